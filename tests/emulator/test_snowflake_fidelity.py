"""Issue 9's fidelity fixes, each checked on the emulated account through the real hook and libraries.

One batch job is run for the whole module (job processes are slow to start); the other jobs here are
held RUNNING by the local runner's start delay and cancelled, never waited for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("fakesnow")

from airflow_snowflake_batch.backends.local.job_runner import DELAY_ENV  # noqa: E402
from airflow_snowflake_batch.exceptions import ModelNotFoundError  # noqa: E402
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook  # noqa: E402
from airflow_snowflake_batch.job_status import BatchJobStatus  # noqa: E402
from emulator.fixtures import EMULATED_CONN_ID, connection_json  # noqa: E402

SCHEMA = "FIDELITY"
BASE = f"@DB.{SCHEMA}.OUT/preds/"


@dataclass
class World:
    account: Any
    expected: list[float]  # model.predict of the input table's rows, in order
    job_id: str
    job_folder: str

    def hook(self) -> SnowflakeBatchInferenceHook:
        return SnowflakeBatchInferenceHook(snowflake_conn_id=EMULATED_CONN_ID)


@pytest.fixture(scope="module")
def world(emulated_account: Any, linear_model: tuple[Any, Any]) -> Iterator[World]:
    import pandas as pd

    model, frame = linear_model
    emulated_account.create_stage(f"DB.{SCHEMA}.OUT")
    for statement in (
        f"CREATE TABLE DB.{SCHEMA}.T (X1 FLOAT, X2 FLOAT)",
        f"INSERT INTO DB.{SCHEMA}.T VALUES (1, 2), (4, 0.5), (7, 3)",
    ):
        emulated_account.stages.run(statement)
    emulated_account.log_model(model, model_name=f"DB.{SCHEMA}.M", sample_input_data=frame)
    expected = list(model.predict(pd.DataFrame({"X1": [1.0, 4.0, 7.0], "X2": [2.0, 0.5, 3.0]})))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            f"AIRFLOW_CONN_{EMULATED_CONN_ID.upper()}", connection_json(emulated_account, "DB", SCHEMA)
        )
        with SnowflakeBatchInferenceHook(snowflake_conn_id=EMULATED_CONN_ID) as hook:
            start = hook.start_batch_job(_spec(hook, "SCORED"))
            state = hook.wait_for_job(start.job_id, poll_interval=0.5, deadline=time.time() + 180)
            assert state.status is BatchJobStatus.DONE, hook.get_job_logs(start.job_id)
        yield World(emulated_account, expected, start.job_id, start.output_location.sql)


def _spec(hook: SnowflakeBatchInferenceHook, job_name: str, **options: Any) -> Any:
    return hook.build_batch_job_spec(
        model_name="M",
        version_name=None,
        function_name=None,
        source=hook.input_source(input_table="T"),
        compute_pool="POOL",
        output_stage_location=BASE,
        job_name=job_name,
        **options,
    )


@pytest.fixture
def held_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs submitted from now on wait a minute once RUNNING (so a test can cancel them)."""
    monkeypatch.setenv(DELAY_ENV, "60")


def _sent_during(account: Any, call: Any) -> list[str]:
    before = len(account.statements)
    call()
    return [q.text for q in account.statements[before:]]


# -- 1 and 2: job look-ups ------------------------------------------------------------------------


def test_an_unreadable_job_history_does_not_block_a_submit(world: World) -> None:
    with world.account.deny("GET_JOB_HISTORY"), world.hook() as hook:
        assert hook.find_job("NEVER_SUBMITTED") is None
        sent = _sent_during(world.account, lambda: hook.find_job("NEVER_SUBMITTED"))
    assert sent == [f"DESCRIBE SERVICE DB.{SCHEMA}.NEVER_SUBMITTED"]


def test_each_status_poll_is_one_statement(world: World) -> None:
    with world.hook() as hook:
        hook.get_job_state(world.job_id)  # the session is made on first use
        sent = _sent_during(world.account, lambda: hook.get_job_state(world.job_id))
    assert sent == [f"DESCRIBE SERVICE {world.job_id}"]


def test_model_lookups_are_made_once_per_hook(world: World) -> None:
    with world.hook() as hook:
        first = _sent_during(world.account, lambda: hook.get_model_version("M"))
        again = _sent_during(world.account, lambda: hook.get_model_version("M"))
        _sent_during(world.account, lambda: hook.get_model_version(f"DB.{SCHEMA}.M", "V1"))
        registry = _sent_during(world.account, lambda: hook.get_model_version(f"DB.{SCHEMA}.M", "LAST"))
    assert any("SHOW MODELS" in s for s in first)
    assert again == []
    assert not any(s.startswith(("SHOW DATABASES", "SHOW SCHEMAS")) for s in registry)


def test_a_dropped_job_is_absent_even_when_the_history_remembers_it(world: World, held_jobs: None) -> None:
    with world.hook() as hook:
        start = hook.start_batch_job(_spec(hook, '"dropped_lower"'))
        assert start.job_id == f'DB.{SCHEMA}."dropped_lower"'
        assert hook.find_job(start.job_id) is not None  # a quoted lower-case name is found
        hook.cancel_job(start.job_id)
        assert hook.get_job_state(start.job_id).status is BatchJobStatus.CANCELLED
        hook.drop_job(start.job_id)
        # GET_JOB_HISTORY() still lists it as CANCELLED; for the hook a dropped job is gone.
        assert hook.find_job(start.job_id) is None


# -- 3: missing database or schema ----------------------------------------------------------------


@pytest.mark.parametrize("model", ["NO_SUCH_DB.SC.M", "DB.NO_SUCH_SCHEMA.M", f"DB.{SCHEMA}.NO_SUCH_MODEL"])
def test_a_model_in_a_missing_namespace_is_not_found(world: World, model: str) -> None:
    with world.hook() as hook, pytest.raises(ModelNotFoundError, match=model.split(".")[-1]):
        hook.get_model_version(model)


# -- 4 and 6: loading results; one spelling of output columns -------------------------------------


def test_load_creates_the_table_from_the_parquet_files_only(world: World) -> None:
    assert (world.account.stage_dir(world.job_folder) / "_SUCCESS").is_file()
    with world.hook() as hook:
        table, rows = hook.load_results(output_location=world.job_folder, target_table="LOADED")
        loaded = hook.backend.session.table(table.sql).sort("X1").to_pandas()
    assert rows == 3
    assert list(loaded.columns) == ["X1", "X2", "OUTPUT_FEATURE_0"]
    assert loaded["OUTPUT_FEATURE_0"].tolist() == pytest.approx(world.expected)


def test_warehouse_output_columns_are_spelled_as_after_a_load(world: World) -> None:
    with world.hook() as hook:
        table, rows, _ = hook.run_warehouse_inference(
            model_name="M",
            version_name=None,
            function_name=None,
            source=hook.input_source(input_table="T"),
            output_table="WAREHOUSE_SCORED",
        )
        scored = hook.backend.session.table(table.sql).sort("X1").to_pandas()
    assert rows == 3
    # run() itself names this output "output_feature_0" (the inputs matched the signature exactly).
    assert list(scored.columns) == ["X1", "X2", "OUTPUT_FEATURE_0"]
    assert scored["OUTPUT_FEATURE_0"].tolist() == pytest.approx(world.expected)


# -- 5: cancelling ---------------------------------------------------------------------------------


def test_cancelling_a_job_whose_service_is_gone_is_a_no_op(world: World) -> None:
    with world.hook() as hook:
        hook.cancel_job(f"DB.{SCHEMA}.NEVER_THERE")
        sent = _sent_during(world.account, lambda: hook.cancel_job(f"DB.{SCHEMA}.NEVER_THERE"))
    assert sent == [f"CALL DB.{SCHEMA}.NEVER_THERE!SPCS_CANCEL_JOB()"]


def test_cancel_stops_a_running_job(world: World, held_jobs: None) -> None:
    with world.hook() as hook:
        start = hook.start_batch_job(_spec(hook, "TO_CANCEL"))
        hook.cancel_job(start.job_id)
        assert hook.get_job_state(start.job_id).status is BatchJobStatus.CANCELLED
        hook.drop_job(start.job_id)


# -- 7: snowflake-ml's copy of table input ----------------------------------------------------------


def test_the_input_copy_beside_the_job_folders_trips_neither_save_mode_nor_load(world: World) -> None:
    copies = world.account.stage_dir(f"{BASE}_snowflake_temporary/")
    assert any(copies.rglob("*.parquet")), "snowflake-ml copies table input next to the job folders"
    with world.hook() as hook:
        hook.validate_output_location(
            hook.parse_location(BASE, what="output"),
            hook.parse_location(f"{BASE}ANOTHER_JOB/", what="output"),
            source=hook.input_source(input_table="T"),
            save_mode="error",
            file_inputs=False,
        )
        _, rows = hook.load_results(output_location=world.job_folder, target_table="LOADED_AGAIN")
    assert rows == 3


# -- issue 18 item 3: INFER_SCHEMA names at most 1,000 files ----------------------------------------


def test_a_job_folder_of_more_files_than_infer_schema_takes_loads_every_file(world: World) -> None:
    """INFER_SCHEMA's FILES takes at most 1,000 names (the emulator refuses more, as Snowflake's page
    says); a job with many workers can write more files than that, and every one must load."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = world.account.stage_dir(f"@DB.{SCHEMA}.OUT/many/")
    folder.mkdir(parents=True)
    for i in range(1500):
        table = pa.table({"X1": [float(i)], "X2": [0.0], "OUTPUT_FEATURE_0": [2.0 * i]})
        pq.write_table(table, folder / f"data_{i:04d}.parquet")
    (folder / "_SUCCESS").write_bytes(b"")

    with world.hook() as hook:
        table, rows = hook.load_results(output_location=f"@DB.{SCHEMA}.OUT/many/", target_table="MANY")
        loaded = hook.backend.session.sql(
            f"SELECT COUNT(*), SUM(OUTPUT_FEATURE_0) FROM {table.sql}"
        ).collect()
    assert rows == 1500
    assert tuple(loaded[0]) == (1500, pytest.approx(2.0 * sum(range(1500))))
