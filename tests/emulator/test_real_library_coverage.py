"""Proof that the hook runs snowflake-ml's own ``ModelVersion.run`` and ``run_batch`` on the emulated account.

``coverage`` measures ``snowflake/ml/model/_client/model/model_version_impl.py`` while the hook
scores in the warehouse and submits a batch job: the last statement of each method's body (the call
that sends the inference SQL) must have run. A control measures a hook call that scores nothing and
must not reach those lines, so the check can fail.

A ``coverage.Coverage`` of its own, with its data file in the test's tmp folder and no config file,
works whether or not pytest itself runs under coverage (pytest-cov): coverage keeps a stack of
collectors, so this one pauses the outer one while it measures and resumes it when it stops (the
outer report misses the few lines run meanwhile). ``sys.settrace`` by hand would have to chain to
the outer tracer itself; Python 3.11 has no ``sys.monitoring``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fakesnow")

from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook  # noqa: E402


def _last_statement_line(method: Callable[..., Any]) -> tuple[Path, int, range]:
    """The file of a (decorated) method, the line of its body's last statement, and the body's lines."""
    function = inspect.unwrap(method)
    path = Path(inspect.getsourcefile(function) or "").resolve()
    source, first = inspect.getsourcelines(function)
    tree = ast.parse(textwrap.dedent("".join(source)))
    definition = tree.body[0]
    assert isinstance(definition, ast.FunctionDef) and definition.name == method.__name__
    body_start = first + definition.body[0].lineno - 1
    return path, first + definition.body[-1].lineno - 1, range(body_start, first + len(source))


@contextmanager
def _executed_lines(path: Path, data_dir: Path) -> Iterator[set[int]]:
    """The lines of ``path`` run inside the block (filled in when the block ends)."""
    import coverage

    lines: set[int] = set()
    cov = coverage.Coverage(
        data_file=str(data_dir / ".coverage"), config_file=False, include=[str(path)], auto_data=False
    )
    cov.start()
    try:
        yield lines
    finally:
        cov.stop()
    data = cov.get_data()
    lines.update(*(data.lines(f) or () for f in data.measured_files() if Path(f).resolve() == path))


@pytest.fixture
def scoring_hook(
    emulated_account: Any, emulated_schema: tuple[str, str], emulated_conn_id: str, linear_model: Any
) -> Iterator[SnowflakeBatchInferenceHook]:
    database, schema = emulated_schema
    model, frame = linear_model
    for statement in (
        f"CREATE TABLE {database}.{schema}.T (X1 FLOAT, X2 FLOAT)",
        f"INSERT INTO {database}.{schema}.T VALUES (1, 2), (4, 0.5)",
    ):
        emulated_account.stages.run(statement)
    emulated_account.log_model(model, model_name=f"{database}.{schema}.M", sample_input_data=frame)
    with SnowflakeBatchInferenceHook(snowflake_conn_id=emulated_conn_id) as hook:
        hook.get_model_version("M")  # libraries imported and the session made outside the measurement
        yield hook


def test_the_hook_runs_model_version_run_and_run_batch(scoring_hook: Any, tmp_path: Path) -> None:
    from snowflake.ml.model import ModelVersion

    path, run_last, run_body = _last_statement_line(ModelVersion.run)
    batch_path, batch_last, batch_body = _last_statement_line(ModelVersion.run_batch)
    assert path == batch_path and path.name == "model_version_impl.py"
    hook = scoring_hook
    source = hook.input_source(input_table="T")

    with _executed_lines(path, tmp_path / "control") as control:
        model = hook.get_model_version("M")
        hook.validate_input(source, hook.resolve_function(model, None))
    with _executed_lines(path, tmp_path / "warehouse") as warehouse:
        _, rows, _ = hook.run_warehouse_inference(
            model_name="M", version_name=None, function_name=None, source=source, output_table="SCORED"
        )
    spec = hook.build_batch_job_spec(
        model_name="M",
        version_name=None,
        function_name=None,
        source=source,
        compute_pool="POOL",
        output_stage_location="@OUT/coverage/",
        job_name="COVERAGE_JOB",
    )
    with _executed_lines(path, tmp_path / "batch") as batch:
        start = hook.start_batch_job(spec)
    hook.cancel_job(start.job_id)

    assert rows == 2
    assert not control & ({*run_body} | {*batch_body}), "the control must not reach run() or run_batch()"
    assert run_last in warehouse, f"ModelVersion.run's last statement (line {run_last}) did not run"
    assert len(warehouse & {*run_body}) > 5
    assert batch_last in batch, f"ModelVersion.run_batch's last statement (line {batch_last}) did not run"
    assert len(batch & {*batch_body}) > 5
