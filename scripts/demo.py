"""Score demo data with the example DAGs on a local workspace: no Snowflake account needed.

Run through ``scripts/demo.sh`` (which installs what it needs in ``.venv-demo`` first), or with a venv
that has the ``demo`` extra: ``.venv-demo/bin/python scripts/demo.py [--workspace DIR] [--date YYYY-MM-DD]``.

1. creates a local workspace (DuckDB tables, folder stages, a model registry) in ``DIR/local-snowflake``;
2. writes a week of demo customer features to ``ML.PUBLIC.CUSTOMER_FEATURES``, trains a small
   scikit-learn churn-risk model and registers it as ``ML.PUBLIC.CHURN_RISK`` version ``V1``;
3. runs ``dags_examples/nightly_warehouse_scoring.py`` and ``nightly_batch_scoring.py`` for one day
   with ``airflow dags test`` (``dag.test()``) in a fresh ``AIRFLOW_HOME`` (``DIR/airflow-home``),
   the ``snowflake_default`` connection pointing at the workspace;
4. prints where the scores are, and a few scored rows.

With ``--ui`` it runs no ``airflow dags test``: after steps 1 and 2 it starts a real Airflow with its
UI on ``http://127.0.0.1:PORT`` (API server, scheduler, dag-processor, triggerer; LocalExecutor;
login ``admin`` / ``admin``) over the workspace and the example DAGs, until Ctrl-C (scripts/demo_ui.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import demo_data  # noqa: E402 - a sibling module, not an installed package

DAGS = {
    "nightly_warehouse_scoring": "ML.PUBLIC.CHURN_SCORES",
    "nightly_batch_scoring": "ML.PUBLIC.CHURN_SCORES_BATCH",
}
ROWS_PER_DAY = 12


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workspace", default=str(REPO_ROOT / "demo-workspace"), help="demo folder (recreated)"
    )
    parser.add_argument("--date", default="2024-06-07", help="the day to score, YYYY-MM-DD")
    parser.add_argument(
        "--ui", action="store_true", help="start Airflow with its UI over the workspace (until Ctrl-C)"
    )
    parser.add_argument("--port", type=int, default=8080, help="the UI's port with --ui (default 8080)")
    args = parser.parse_args()
    day = dt.date.fromisoformat(args.date)

    root = Path(args.workspace).resolve()
    if root.exists():
        print(f"Removing the previous demo in {root}")
        shutil.rmtree(root)
    workspace_root, airflow_home = root / "local-snowflake", root / "airflow-home"

    from airflow_snowflake_batch.local import LocalWorkspace

    step(f"Creating a local workspace in {workspace_root}")
    workspace = LocalWorkspace(workspace_root, database=demo_data.DATABASE, schema=demo_data.SCHEMA)
    days = [(day - dt.timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    features = demo_data.customer_features(days, [ROWS_PER_DAY] * len(days))
    model = demo_data.train_churn_model()
    demo_data.seed_workspace(workspace, features, model)
    print(f"  {demo_data.FEATURES_TABLE}: {len(features)} rows, {days[0]} to {days[-1]}")
    print(f"  model {demo_data.MODEL_NAME} version {demo_data.MODEL_VERSION}: {type(model).__name__}")
    print(f"  stage @{demo_data.OUTPUT_STAGE} for batch job results")

    step(f"Preparing Airflow in {airflow_home}")
    dags_folder = airflow_home / "dags"
    dags_folder.mkdir(parents=True)
    for dag_id in DAGS:
        shutil.copy(REPO_ROOT / "dags_examples" / f"{dag_id}.py", dags_folder)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The examples use the default connection id; here it points at the local workspace.
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": workspace.connection_uri(),
    }
    if args.ui:
        import demo_ui

        step(f"Starting Airflow with its UI in {airflow_home}")
        return demo_ui.serve(
            airflow_home,
            dags_folder,
            port=args.port,
            extra_env={"AIRFLOW_CONN_SNOWFLAKE_DEFAULT": workspace.connection_uri()},
            hints=ui_hints(days),
        )
    airflow(["db", "migrate"], env, log=airflow_home / "db-migrate.log")

    for dag_id in DAGS:
        step(f"Running {dag_id} for {day} (airflow dags test)")
        started = time.monotonic()
        airflow(["dags", "test", dag_id, day.isoformat()], env, log=airflow_home / f"{dag_id}.log")
        print(f"  succeeded in {time.monotonic() - started:.0f}s; log: {airflow_home / f'{dag_id}.log'}")

    step("Scores")
    day_features = features[features["FEATURE_DATE"] == day].set_index("CUSTOMER_ID")
    all_right = True
    for dag_id, table in DAGS.items():
        scores = workspace.read_table(table)
        print(f"\n{table} (written by {dag_id}): {len(scores)} rows; the first 5:")
        print(scores.head(5).to_string(index=False))
        right, verdict = agreement(scores, day_features, model)
        all_right &= right
        print(f"  {verdict}")
    print(
        f"\nThe workspace is in {workspace_root}: tables in databases/, batch job output (Parquet and "
        f"_SUCCESS) in stages/, jobs and their logs in jobs/. Read a table with:\n"
        f'  {_venv_python()} -c "from airflow_snowflake_batch.local import LocalWorkspace; '
        f"print(LocalWorkspace('{workspace_root}').read_table('ML.PUBLIC.CHURN_SCORES'))\"\n"
        f"Run the example DAGs on it yourself with:\n"
        f"  export AIRFLOW_CONN_SNOWFLAKE_DEFAULT='{workspace.connection_uri()}'"
    )
    return 0 if all_right else 1


def ui_hints(days: list[str]) -> list[str]:
    """What to try in the UI: the demo data covers ``days`` only, and the DAGs start paused."""
    return [
        f"DAGs: {', '.join(DAGS)} (paused; the scheduler makes no runs of its own: the data is {days[0]} to {days[-1]})",
        f"try: nightly_batch_scoring > Trigger > Backfill, {days[-3]} to {days[-1]}, with 'Unpause' ticked;",
        "     a batch task defers while its job runs; its 'Batch Inference Job' link shows the job's log.",
    ]


def _venv_python() -> str:
    """This interpreter, relative to the repository when it lives there (``.venv-demo/bin/python``)."""
    path = Path(sys.executable)
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def agreement(scores: Any, day_features: Any, model: Any) -> tuple[bool, str]:
    """Whether the table's scores are what the model gives for that day's inputs, computed here."""
    import numpy as np

    known = {"CUSTOMER_ID", "SCORE_DATE", *demo_data.FEATURE_COLUMNS}
    [output] = [c for c in scores.columns if c.upper() not in known]
    expected = model.predict(day_features.loc[scores["CUSTOMER_ID"], list(demo_data.FEATURE_COLUMNS)])
    same = len(scores) == len(day_features) and np.allclose(scores[output].to_numpy(float), expected)
    verdict = "equals" if same else "DIFFERS FROM"
    return same, f"{output} {verdict} model.predict() of the {len(day_features)} input rows"


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def airflow(args: list[str], env: dict[str, str], *, log: Path) -> None:
    """Run an ``airflow`` CLI command of this venv; on failure show the end of its output and stop."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    with log.open("wb") as out:
        result = subprocess.run(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        sys.exit(f"`airflow {' '.join(args)}` failed (exit {result.returncode}); full output in {log}")


if __name__ == "__main__":
    sys.exit(main())
