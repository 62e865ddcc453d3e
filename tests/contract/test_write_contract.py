"""The write contract (docs/write_contract.rst), on both backends, for both kinds of write.

Each case runs a warehouse inference and a load of job output, then reads the table back: the same
rows, columns and partitions on ``local`` and ``snowflake``.
"""

from __future__ import annotations

import pandas as pd
import pytest
from contract_sides import MODEL
from contract_support import OUTPUT, features, load, rows, scored, stage_job_output, warehouse

DAY_1, DAY_2 = "2024-01-01", "2024-01-02"
COLUMNS = ["ID", "SEPAL_LENGTH", "SPECIES_CODE", "SCORE"]


def write(side, kind: str, frame: pd.DataFrame, *, job: str = "JOB_1", **kwargs) -> int:
    """Write ``frame``'s scores to PREDS by warehouse inference, or by loading them as job ``job``'s
    output; the rows written. ``output_mode`` is the load's ``mode``."""
    if kind == "warehouse":
        side.write_table("INPUT", frame)
        return warehouse(side, **kwargs)
    folder = f"@OUT/jobs/{job}/"
    stage_job_output(side, scored(frame), folder=folder)
    if "output_mode" in kwargs:
        kwargs["mode"] = kwargs.pop("output_mode")
    return load(side, folder=folder, **kwargs)


KINDS = ["warehouse", "load"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_a_partition_write_replaces_only_its_partition_whatever_the_mode(side, kind, mode):
    write(side, kind, features(range(4)), output_mode=mode, output_partition={"DS": DAY_1})
    write(
        side,
        kind,
        features(range(3), day_offset=1),
        output_mode=mode,
        output_partition={"DS": DAY_2},
        job="JOB_2",
    )
    # Day 1 again, with other rows: its old rows go, day 2 stays.
    written = write(
        side, kind, features(range(10, 12)), output_mode=mode, output_partition={"DS": DAY_1}, job="JOB_3"
    )

    table = side.read_table(OUTPUT)
    assert written == 2
    assert rows(table, ["ID", "DS"]) == sorted(
        [(10.0, DAY_1), (11.0, DAY_1), (0.0, DAY_2), (1.0, DAY_2), (2.0, DAY_2)], key=repr
    )
    expected = scored(features(range(10, 12)))
    assert rows(table[table["DS"] == DAY_1], COLUMNS) == rows(expected)


@pytest.mark.parametrize("kind", KINDS)
def test_default_arguments_keep_every_day(side, kind):
    """Three nightly runs with default arguments and a day partition keep all three days."""
    for day in range(3):
        write(
            side,
            kind,
            features(range(day * 10, day * 10 + 2)),
            output_partition={"DS": f"2024-01-0{day + 1}"},
            job=f"J{day}",
        )
    assert sorted(set(side.read_table(OUTPUT)["DS"])) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert len(side.read_table(OUTPUT)) == 6


@pytest.mark.parametrize("kind", KINDS)
def test_overwrite_without_partition_replaces_the_rows_of_the_same_table_object(side, kind):
    write(side, kind, features(range(5)), output_mode="overwrite")
    side.mark_table(
        OUTPUT
    )  # stands for grants, comments, clustering, policies: lost if the table were recreated

    written = write(side, kind, features(range(20, 22)), output_mode="overwrite", job="JOB_2")

    assert written == 2
    assert rows(side.read_table(OUTPUT), COLUMNS) == rows(scored(features(range(20, 22))))
    assert side.is_marked(OUTPUT)


@pytest.mark.parametrize("kind", KINDS)
def test_append_without_partition_adds_rows(side, kind):
    write(side, kind, features(range(2)), output_mode="append")
    write(side, kind, features(range(5, 7)), output_mode="append", job="JOB_2")
    assert rows(side.read_table(OUTPUT), ["ID"]) == [(0.0,), (1.0,), (5.0,), (6.0,)]


def test_loading_the_same_job_twice_in_append_mode_adds_its_rows_once(side):
    stage_job_output(side, scored(features(range(4))))
    assert load(side, mode="append") == 4
    assert load(side, mode="append") == 0
    assert len(side.read_table(OUTPUT)) == 4


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("partition", [None, {"DS": DAY_1}], ids=["no-partition", "partition"])
@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_a_missing_table_is_created(side, kind, partition, mode):
    written = write(side, kind, features(range(3)), output_mode=mode, output_partition=partition)
    table = side.read_table(OUTPUT)
    assert written == 3
    assert set(COLUMNS) <= set(table.columns)
    assert set(table.columns) - set(COLUMNS) == set(partition or {})
    assert rows(table, COLUMNS) == rows(scored(features(range(3))))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("partition", [None, {"DS": DAY_1}], ids=["no-partition", "partition"])
@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_columns_the_table_lacks_are_added_and_its_own_columns_kept(side, kind, partition, mode):
    # The table has only ID, and a column of its own the writes do not know.
    side.write_table(OUTPUT, pd.DataFrame({"ID": pd.array([99], dtype="int64"), "NOTE": ["kept"]}))
    side.mark_table(OUTPUT)

    write(side, kind, features(range(2)), output_mode=mode, output_partition=partition)

    table = side.read_table(OUTPUT)
    assert set(table.columns) == {*COLUMNS, "NOTE", *(partition or {})}
    assert side.is_marked(OUTPUT)
    expected_ids = [(0.0,), (1.0,)] if (mode == "overwrite" and not partition) else [(0.0,), (1.0,), (99.0,)]
    assert rows(table, ["ID"]) == expected_ids
    assert rows(table[table["ID"] != 99], ["NOTE"]) == [(None,), (None,)]


@pytest.mark.parametrize("kind", KINDS)
def test_mapped_shards_writing_the_same_partition_keep_each_others_rows(side, kind):
    """Three mapped tasks (map index 0..2) write day 1; a rerun of shard 1 replaces only its own rows."""
    for shard in range(3):
        ids = range(shard * 10, shard * 10 + 2)
        write(side, kind, features(ids), output_partition={"DS": DAY_1}, map_index=shard, job=f"S{shard}")
    write(side, kind, features([15]), output_partition={"DS": DAY_1}, map_index=1, job="S1_RERUN")

    table = side.read_table(OUTPUT)
    assert rows(table, ["ID", "AIRFLOW_MAP_INDEX"]) == sorted(
        [(0.0, 0.0), (1.0, 0.0), (15.0, 1.0), (20.0, 2.0), (21.0, 2.0)], key=repr
    )
    assert set(table["DS"]) == {DAY_1}


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_input_is_a_success_that_empties_its_partition(side, kind):
    write(side, kind, features(range(3)), output_partition={"DS": DAY_1})
    write(side, kind, features(range(2)), output_partition={"DS": DAY_2}, job="JOB_2")

    if kind == "warehouse":
        written = write(side, kind, features([]), output_partition={"DS": DAY_1})
    else:
        stage_job_output(side, None, folder="@OUT/jobs/EMPTY/")  # _SUCCESS and no Parquet file
        written = load(side, folder="@OUT/jobs/EMPTY/", output_partition={"DS": DAY_1})

    assert written == 0
    assert rows(side.read_table(OUTPUT), ["ID", "DS"]) == [(0.0, DAY_2), (1.0, DAY_2)]


def test_an_empty_warehouse_input_creates_the_table_with_its_columns(side):
    side.write_table("INPUT", features([]))
    assert warehouse(side) == 0
    table = side.read_table(OUTPUT)
    assert list(table.columns) == COLUMNS and table.empty


def test_an_empty_job_folder_loads_nothing_and_creates_no_table(side):
    stage_job_output(side, None)
    assert load(side) == 0
    assert side.read_table(OUTPUT) is None


def test_loading_without_success_marker_needs_require_success_false(side):
    stage_job_output(side, scored(features(range(4))), success=False)
    from airflow_snowflake_batch.exceptions import ResultsNotReadyError

    with pytest.raises(ResultsNotReadyError, match="no _SUCCESS file"):
        load(side)
    assert side.read_table(OUTPUT) is None
    assert load(side, require_success=False) == 4


def test_an_empty_input_is_refused_before_anything_is_written_when_rows_are_required(side):
    """``fail_on_empty_input=True`` (the hook's ``require_rows``): the day's partition keeps its rows."""
    from airflow_snowflake_batch.exceptions import InputValidationError

    side.write_table("INPUT", features(range(3)))
    warehouse(side, output_partition={"DS": DAY_1})
    side.write_table("INPUT", features([]))

    with pytest.raises(InputValidationError) as raised:
        warehouse(side, output_partition={"DS": DAY_1}, require_rows=True)

    assert "input table" in str(raised.value) and "INPUT has no rows for partition {'DS': '" in str(
        raised.value
    )
    assert rows(side.read_table(OUTPUT), ["ID", "DS"]) == [(0.0, DAY_1), (1.0, DAY_1), (2.0, DAY_1)]


# -- partitioned runs (Airflow 3.2+): the operators write the run's partition by default ------


def write_in_run(
    side, kind: str, frame: pd.DataFrame, partition_key: str | None, *, job: str, **kwargs
) -> int:
    """Run the warehouse or load *operator* in a run whose partition key is ``partition_key`` (None:
    a run without one, as on Airflow 3.1), as Airflow hands the key over: the context's
    ``partition_key`` and ``dag_run.partition_key``; the rows written."""
    from types import SimpleNamespace

    from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
    from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

    context: dict = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id=f"r_{job}", map_index=-1)}
    if partition_key is not None:
        context |= {"partition_key": partition_key, "dag_run": SimpleNamespace(partition_key=partition_key)}
    if kind == "warehouse":
        side.write_table("INPUT", frame)
        op = SnowflakeWarehouseInferenceOperator(
            task_id="t",
            model_name=MODEL,
            input_table="INPUT",
            output_table=OUTPUT,
            snowflake_conn_id=side.conn_id,
            **kwargs,
        )
        return op.execute(context)["rows_written"]
    folder = f"@OUT/jobs/{job}/"
    stage_job_output(side, scored(frame), folder=folder)
    op = SnowflakeLoadBatchResultsOperator(
        task_id="t", output_location=folder, target_table=OUTPUT, snowflake_conn_id=side.conn_id, **kwargs
    )
    return op.execute(context)["rows_loaded"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_partitioned_run_replaces_only_its_own_partition(side, kind):
    """Two partitions scored, then the first rerun with other rows: only its rows are replaced, in
    the documented AIRFLOW_PARTITION_KEY column; the load's default mode (append) does not apply."""
    write_in_run(side, kind, features(range(4)), DAY_1, job="P1")
    write_in_run(side, kind, features(range(3), day_offset=1), DAY_2, job="P2")
    written = write_in_run(side, kind, features(range(10, 12)), DAY_1, job="P1_RERUN")

    table = side.read_table(OUTPUT)
    assert written == 2
    assert rows(table, ["ID", "AIRFLOW_PARTITION_KEY"]) == sorted(
        [(10.0, DAY_1), (11.0, DAY_1), (0.0, DAY_2), (1.0, DAY_2), (2.0, DAY_2)], key=repr
    )
    assert rows(table[table["AIRFLOW_PARTITION_KEY"] == DAY_2], COLUMNS) == rows(
        scored(features(range(3), day_offset=1))
    )


@pytest.mark.parametrize("kind", KINDS)
def test_an_explicit_output_partition_wins_over_the_runs_partition(side, kind):
    write_in_run(side, kind, features(range(2)), DAY_1, job="E1", output_partition={"DS": "explicit"})
    write_in_run(side, kind, features(range(5, 6)), DAY_2, job="E2", output_partition={"DS": "explicit"})

    table = side.read_table(OUTPUT)
    assert "AIRFLOW_PARTITION_KEY" not in table.columns
    assert rows(table, ["ID", "DS"]) == [(5.0, "explicit")]


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_without_partition_writes_as_before(side, kind):
    """No partition key (an unpartitioned DAG, or Airflow 3.1): the mode decides, no extra column."""
    write_in_run(side, kind, features(range(2)), None, job="N1", **{_mode(kind): "append"})
    write_in_run(side, kind, features(range(5, 6)), None, job="N2", **{_mode(kind): "append"})

    table = side.read_table(OUTPUT)
    assert set(table.columns) == set(COLUMNS)
    assert rows(table, ["ID"]) == [(0.0,), (1.0,), (5.0,)]


def _mode(kind: str) -> str:
    return "output_mode" if kind == "warehouse" else "mode"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("partition", [None, {"DS": DAY_1}], ids=["no-partition", "partition"])
def test_a_column_the_table_has_in_lower_case_is_written_there_not_added_again(side, kind, partition):
    """A table made by pandas or Snowpark often has quoted lower-case columns ("score", "ds"): the
    write's SCORE and DS go there, with no upper-case twin added (on Snowflake the twin would take the
    new rows and leave the old column NULL; the emulator refuses that ADD COLUMN and an INSERT naming
    a column in another case)."""
    side.write_table(
        OUTPUT, pd.DataFrame({"ID": pd.array([99], dtype="int64"), "score": [0.5], "ds": ["2023-12-31"]})
    )

    write(side, kind, features(range(2)), output_mode="append", output_partition=partition)

    table = side.read_table(OUTPUT)
    assert set(table.columns) == {"ID", "score", "ds", "SEPAL_LENGTH", "SPECIES_CODE"}
    new = table[table["ID"] != 99]
    assert rows(new, ["ID", "score"]) == rows(scored(features(range(2))), ["ID", "SCORE"])
    assert rows(new, ["ds"]) == ([(DAY_1,), (DAY_1,)] if partition else [(None,), (None,)])
