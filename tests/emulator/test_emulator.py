"""The emulated account itself: the real Snowpark and snowflake-ml code runs over it and gets real answers."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("fakesnow")


@pytest.fixture
def session(emulated_account: Any, emulated_schema: tuple[str, str]) -> Any:
    from snowflake.snowpark import Session

    database, schema = emulated_schema
    session = Session.builder.configs(
        {**emulated_account.connect_kwargs, "database": database, "schema": schema}
    ).create()
    yield session
    session.close()


def test_registry_run_and_run_batch_score_for_real(
    emulated_account: Any, emulated_schema: tuple[str, str], session: Any, linear_model: tuple[Any, Any]
) -> None:
    from snowflake.ml.model.batch_inference import OutputSpec
    from snowflake.ml.registry import Registry

    model, frame = linear_model
    database, schema = emulated_schema
    emulated_account.log_model(model, model_name=f"{database}.{schema}.M", sample_input_data=frame)
    session.sql(f"CREATE TABLE {database}.{schema}.T (X1 FLOAT, X2 FLOAT)").collect()
    session.sql(f"INSERT INTO {database}.{schema}.T VALUES (1, 2), (4, 0.5)").collect()
    expected = list(model.predict(type(frame)({"X1": [1.0, 4.0], "X2": [2.0, 0.5]})))

    mv = Registry(session, database_name=database, schema_name=schema).get_model("M").default
    assert mv.version_name == "V1"
    scored = mv.run(session.table(f"{database}.{schema}.T"), function_name="PREDICT").to_pandas()
    assert scored["output_feature_0"].tolist() == pytest.approx(expected)

    job = mv.run_batch(
        session.table(f"{database}.{schema}.T"),
        compute_pool="POOL",
        output_spec=OutputSpec(stage_location=f"@{database}.{schema}.OUT/preds/"),
        job_name="JOB_1",
    )
    deadline = time.monotonic() + 120
    while job.status not in ("DONE", "FAILED", "INTERNAL_ERROR"):
        assert time.monotonic() < deadline, "the emulated job did not finish"
        time.sleep(0.5)
    assert job.status == "DONE", job.get_logs()
    import pyarrow.parquet as pq

    folder = emulated_account.stage_dir(f"@{database}.{schema}.OUT/preds/JOB_1/")
    assert (folder / "_SUCCESS").is_file()
    rows = pq.read_table(sorted(folder.glob("*.parquet"))).to_pandas()
    assert sorted(rows["output_feature_0"]) == pytest.approx(sorted(expected))


def test_the_emulator_takes_no_naming_or_status_rule_from_the_provider() -> None:
    """The emulator answers as Snowflake does, from Snowflake's docs and snowflake-ml: were it to import the
    provider's identifier parser or job statuses, it would agree with the provider whatever Snowflake does."""
    import ast
    from pathlib import Path

    forbidden = {"airflow_snowflake_batch.identifiers", "airflow_snowflake_batch.job_status"}
    found = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name.startswith("test_"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}:{node.lineno} {name}" for name in names if name in forbidden]
    assert found == []
