"""A production install (no ``[local]`` extra) runs the Snowflake path and names the extra the local backend needs.

The package and its locked dependencies are installed into a fresh environment from uv's cache, as
``uv sync --frozen --no-editable`` without extras would on a worker: no DuckDB there. Runs only in the
locked environment (.venv), whose lock file it installs from; it takes a few seconds with a warm cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    Path(sys.prefix).resolve() != (REPO / ".venv").resolve(),
    reason="installs from the lock file: runs only in the locked environment (.venv)",
)

CHECK = textwrap.dedent(
    """
    import json, sys
    # The Snowflake path: every public module, the Snowflake backend and the libraries it drives.
    import airflow_snowflake_batch.operators.warehouse
    import airflow_snowflake_batch.operators.batch_job
    import airflow_snowflake_batch.operators.load_results
    import airflow_snowflake_batch.operators.cleanup
    import airflow_snowflake_batch.sensors.batch_job
    import airflow_snowflake_batch.triggers.batch_job
    from airflow_snowflake_batch.backends.snowflake import SnowflakeBackend
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    import snowflake.ml.model.batch_inference, snowflake.snowpark
    result = {"duckdb_loaded": "duckdb" in sys.modules}
    try:
        from airflow_snowflake_batch.local import LocalWorkspace
    except ImportError as exc:
        result["import_error"] = [type(exc).__name__, str(exc)]
    result["test_connection"] = list(SnowflakeBatchInferenceHook("local_ws").test_connection())
    print(json.dumps(result))
    """
)


def _uv() -> list[str]:
    if shutil.which("uv"):
        return ["uv"]
    if subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True).returncode == 0:
        return [sys.executable, "-m", "uv"]
    pytest.skip("uv is not installed (scripts/uv.sh installs it)")


def test_install_without_the_local_extra(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [
            *_uv(),
            "sync",
            "--quiet",
            "--frozen",  # exactly uv.lock
            "--offline",  # from the cache the locked environment was installed from
            "--no-editable",  # the package as a wheel, like pip install airflow-snowflake-batch
            "--project",
            str(REPO),
            "--python",
            sys.executable,
        ],
        env=env,
        check=True,
        timeout=600,
    )
    python = venv / "bin" / "python"
    assert subprocess.run([python, "-c", "import duckdb"], capture_output=True).returncode != 0

    run_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))},
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW_CONN_LOCAL_WS": json.dumps(
            {"conn_type": "snowflake_batch_local", "extra": {"workspace": str(tmp_path / "ws")}}
        ),
    }
    # Run outside the checkout, so "import airflow_snowflake_batch" finds the installed wheel.
    done = subprocess.run(
        [python, "-c", CHECK], env=run_env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    hint = "pip install 'airflow-snowflake-batch[local]'"
    assert result["duckdb_loaded"] is False
    assert result["import_error"][0] == "MissingExtraError"
    assert "needs duckdb" in result["import_error"][1] and hint in result["import_error"][1]
    # The UI's Test button on a local connection says the same instead of a bare ModuleNotFoundError.
    assert result["test_connection"][0] is False and hint in result["test_connection"][1]
    # The package came from a wheel into the new environment, not from this checkout.
    installed = subprocess.run(
        [python, "-c", "import airflow_snowflake_batch; print(airflow_snowflake_batch.__file__)"],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=tmp_path,
    ).stdout
    assert str(venv) in installed
