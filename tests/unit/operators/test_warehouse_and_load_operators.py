from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import DAG

from airflow_snowflake_batch.backends.base import InputSource, ModelVersionRef
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.hooks.rescoring import WarehouseScoring
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

QUERY_TAG = {"dag_id": "scoring", "task_id": "score", "run_id": "manual__2026-01-01"}
SCORES = ObjectName.parse("ML.PUBLIC.SCORES")


def patched_hook(module: str):
    patcher = mock.patch(
        "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook", autospec=True
    )
    cls = patcher.start()
    cls.return_value.__enter__.return_value = cls.return_value
    return patcher, cls


COST_SOURCE = "measured by the worker around the scoring call"


@pytest.fixture
def warehouse_hook_cls():
    patcher, cls = patched_hook("warehouse")
    hook = cls.return_value
    hook.input_source.return_value = InputSource(query="SELECT * FROM FEATURES")
    model = ModelVersionRef(ObjectName.parse("ML.PUBLIC.CHURN"), Identifier("V3"), ())
    hook.run_warehouse_scoring.return_value = WarehouseScoring(SCORES, 120, model, reused=False)
    yield cls
    patcher.stop()


@pytest.fixture
def load_hook_cls():
    patcher, cls = patched_hook("load_results")
    cls.return_value.load_results.return_value = (SCORES, 42)
    yield cls
    patcher.stop()


def test_warehouse_operator_scores_through_the_hook(warehouse_hook_cls, context):
    with DAG("scoring", params={"region": "emea"}):
        op = SnowflakeWarehouseInferenceOperator(
            task_id="score",
            model_name="churn",
            input_query="SELECT * FROM features",
            output_table="scores",
            output_mode="append",
            output_partition={"DS": "2026-01-01"},
            model_params={"threshold": 0.4},
            strict_input_validation=True,
            snowflake_conn_id="sf",
            warehouse="ml_wh",
        )

    result = op.execute(context)

    cost = result.pop("cost")
    assert result == {
        "output_table": "ML.PUBLIC.SCORES",
        "rows_written": 120,
        "model_version": "V3",
        "reused": False,
    }
    assert cost == {"wall_seconds": 0.0, "cpu_seconds": 0.0, "source": COST_SOURCE, "reused": False}
    warehouse_hook_cls.assert_called_once_with(
        snowflake_conn_id="sf", database=None, schema=None, warehouse="ml_wh", role=None, query_tag=QUERY_TAG
    )
    hook = warehouse_hook_cls.return_value
    hook.input_source.assert_called_once_with(input_table=None, input_query="SELECT * FROM features")
    hook.run_warehouse_scoring.assert_called_once_with(
        rescore="if_changed",
        model_name="churn",
        version_name=None,
        function_name=None,
        source=hook.input_source.return_value,
        output_table="scores",
        output_mode="append",
        output_partition={"DS": "2026-01-01"},
        params={"threshold": 0.4},  # the DAG's "region" param is not the model's
        partition_column=None,
        strict_input_validation=True,
        map_index=-1,
        require_rows=False,
    )
    hook.__exit__.assert_called_once()


def test_warehouse_operator_writes_nothing_when_the_real_hook_refuses_its_inputs(
    tmp_path, monkeypatch, context
):
    """The real hook on a local workspace (in-process DuckDB, no job process) refuses two inputs."""
    import pandas as pd

    from airflow_snowflake_batch.local.workspace import LocalWorkspace

    ws = LocalWorkspace(tmp_path / "ws")
    ws.write_table("FEATURES", pd.DataFrame({"F1": [1.0, 2.0]}))
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_REFUSAL", ws.connection_uri())
    op = SnowflakeWarehouseInferenceOperator(
        task_id="score",
        model_name="m",
        input_table="FEATURES",
        input_query="SELECT * FROM FEATURES",
        output_table="SCORES",
        snowflake_conn_id="local_refusal",
    )

    with pytest.raises(InputValidationError, match="got input_table, input_query"):
        op.execute(context)
    with pytest.raises(Exception, match="SCORES"):
        ws.read_table("SCORES")
    assert op.get_openlineage_facets_on_complete(context["ti"]) is None  # no lineage for a failed write


def test_warehouse_operator_rejects_unknown_output_mode():
    with pytest.raises(ValueError, match="output_mode must be 'overwrite' or 'append', got 'merge'"):
        SnowflakeWarehouseInferenceOperator(
            task_id="score", model_name="m", input_table="t", output_table="o", output_mode="merge"
        )


def test_load_operator_loads_through_the_hook(load_hook_cls, context):
    op = SnowflakeLoadBatchResultsOperator(
        task_id="score",
        output_location="@ML.PUBLIC.OUT/preds/JOB_1/",
        target_table="scores",
        mode="overwrite",
        output_partition={"DS": "2026-01-01"},
        create_table_if_missing=False,
        require_success=False,
        job_id="ML.PUBLIC.JOB_1",
        snowflake_conn_id="sf",
        role="loader",
    )

    assert op.execute(context) == {"target_table": "ML.PUBLIC.SCORES", "rows_loaded": 42}
    load_hook_cls.assert_called_once_with(
        snowflake_conn_id="sf", database=None, schema=None, warehouse=None, role="loader", query_tag=QUERY_TAG
    )
    load_hook_cls.return_value.load_results.assert_called_once_with(
        output_location="@ML.PUBLIC.OUT/preds/JOB_1/",
        target_table="scores",
        mode="overwrite",
        output_partition={"DS": "2026-01-01"},
        create_table_if_missing=False,
        require_success=False,
        map_index=-1,
        job_id="ML.PUBLIC.JOB_1",
    )


@pytest.mark.parametrize("operator", ["warehouse", "load"])
def test_a_mapped_task_hands_its_map_index_to_the_hook(warehouse_hook_cls, operator):
    """The hook makes the map index part of what the write replaces (see hook.replace_key)."""
    from operator_support import make_context

    if operator == "warehouse":
        op = SnowflakeWarehouseInferenceOperator(
            task_id="score", model_name="m", input_table="t", output_table="o"
        )
        call = warehouse_hook_cls.return_value.run_warehouse_scoring
    else:
        op = SnowflakeLoadBatchResultsOperator(task_id="score", output_location="@OUT/x/", target_table="o")
        call = warehouse_hook_cls.return_value.load_results  # the same patched hook class
        call.return_value = (SCORES, 0)
    op.execute(make_context(map_index=2))
    assert call.call_args.kwargs["map_index"] == 2


def test_load_operator_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be 'append' or 'overwrite', got 'upsert'"):
        SnowflakeLoadBatchResultsOperator(
            task_id="load", output_location="@S/x/", target_table="t", mode="upsert"
        )


def test_load_operator_renders_output_location_from_the_batch_operator():
    class PushedByTheBatchTask:
        def xcom_pull(self, task_ids: str, key: str) -> str:
            return {("score", "output_location"): "@ML.PUBLIC.OUT/preds/JOB_1/"}[(task_ids, key)]

    op = SnowflakeLoadBatchResultsOperator(
        task_id="load",
        output_location="{{ ti.xcom_pull(task_ids='score', key='output_location') }}",
        target_table="scores_{{ ds_nodash }}",
    )

    op.render_template_fields({"ti": PushedByTheBatchTask(), "ds_nodash": "20260101"})

    assert (op.output_location, op.target_table) == ("@ML.PUBLIC.OUT/preds/JOB_1/", "scores_20260101")


def test_an_empty_input_succeeds_with_a_warning_naming_the_input_and_partition(
    warehouse_hook_cls, context, capsys
):
    """Issue 22 item 4; fail_on_empty_input=True asks the hook to refuse it before writing."""
    hook = warehouse_hook_cls.return_value
    hook.run_warehouse_scoring.return_value = replace(hook.run_warehouse_scoring.return_value, rows=0)
    op = SnowflakeWarehouseInferenceOperator(
        task_id="score",
        model_name="churn",
        input_query="SELECT * FROM features",
        output_table="scores",
        output_partition={"DS": "2026-01-01"},
    )

    assert op.execute(context)["rows_written"] == 0
    logged = capsys.readouterr().out
    assert "warning" in logged
    assert (
        "The input query had no rows for partition {'DS': '2026-01-01'}: wrote 0 rows to ML.PUBLIC.SCORES"
        in logged
    )
    assert hook.run_warehouse_scoring.call_args.kwargs["require_rows"] is False

    op = SnowflakeWarehouseInferenceOperator(
        task_id="score", model_name="churn", input_query="q", output_table="scores", fail_on_empty_input=True
    )
    op.execute(context)
    assert hook.run_warehouse_scoring.call_args.kwargs["require_rows"] is True


def test_a_reused_partition_is_logged_at_warning_and_marked_reused_in_xcom_and_the_asset_event(
    warehouse_hook_cls, context, capsys
):
    from airflow.sdk import Asset

    hook = warehouse_hook_cls.return_value
    reason = "ML.PUBLIC.SCORES partition {} was already scored by ML.PUBLIC.CHURN version V3 ..."
    hook.run_warehouse_scoring.return_value = replace(
        hook.run_warehouse_scoring.return_value, reused=True, reason=reason
    )
    asset = Asset("snowflake://acme/ML/PUBLIC/SCORES")
    event = mock.Mock(extra={})
    op = SnowflakeWarehouseInferenceOperator(
        task_id="score", model_name="churn", input_query="q", output_table="scores", outlets=[asset]
    )

    class Events:  # looked up by Asset, which Airflow 3.1 cannot hash: kept by name
        def __getitem__(self, key):
            assert key.name == asset.name
            return event

    result = op.execute({**context, "outlet_events": Events()})

    assert (result["reused"], result["rows_written"], result["cost"]["reused"]) == (True, 0, True)
    assert event.extra["reused"] is True and event.extra["rows"] == 120
    logged = capsys.readouterr().out
    assert f"Not scoring ML.PUBLIC.SCORES again: {reason}" in logged
    assert "warning" in logged.split("Not scoring")[0].splitlines()[-1]


def test_rescore_must_be_a_known_mode():
    with pytest.raises(ValueError, match="rescore must be 'if_changed' or 'always', got 'never'"):
        SnowflakeWarehouseInferenceOperator(
            task_id="score", model_name="m", input_table="t", output_table="o", rescore="never"
        )


def _operator(kind: str, hook_cls: Any, **kwargs: Any) -> tuple[Any, Any]:
    """A warehouse or load operator on the patched hook class, and the hook call it makes."""
    if kind == "warehouse":
        op = SnowflakeWarehouseInferenceOperator(
            task_id="score", model_name="m", input_table="t", output_table="o", **kwargs
        )
        return op, hook_cls.return_value.run_warehouse_scoring
    op = SnowflakeLoadBatchResultsOperator(
        task_id="score", output_location="@OUT/x/", target_table="o", **kwargs
    )
    hook_cls.return_value.load_results.return_value = (SCORES, 7)
    return op, hook_cls.return_value.load_results


@pytest.mark.parametrize("kind", ["warehouse", "load"])
@pytest.mark.parametrize(
    ("output_partition", "run_key", "expected"),
    [
        (None, "2024-06-01", {"AIRFLOW_PARTITION_KEY": "2024-06-01"}),
        ({"DS": "2024-06-01"}, "2024-06-02", {"DS": "2024-06-01"}),
        ({}, "2024-06-02", {}),
        (None, None, None),
    ],
    ids=["partitioned-run", "explicit-wins", "opt-out", "unpartitioned"],
)
def test_a_partitioned_run_writes_its_own_partition_by_default(
    warehouse_hook_cls, context, kind, output_partition, run_key, expected
):
    """The hook gets the run's partition (what the write replaces) and the asset event says so."""
    op, call = _operator(kind, warehouse_hook_cls, output_partition=output_partition)
    context = {**context, "partition_key": run_key, "dag_run": SimpleNamespace(partition_key=run_key)}
    events = {}

    class Events:  # looked up by Asset, which Airflow 3.1 cannot hash: kept by name
        def __getitem__(self, asset):
            return events.setdefault(asset.name, SimpleNamespace(extra={}))

    from airflow.sdk import Asset

    op.outlets = [Asset(name="scores", uri="snowflake://acct/ML/PUBLIC/O")]
    op.execute({**context, "outlet_events": Events()})

    assert call.call_args.kwargs["output_partition"] == expected
    assert events["scores"].extra["partition"] == (expected or {})


@pytest.mark.parametrize("kind", ["warehouse", "load"])
def test_on_airflow_3_1_a_run_without_partition_attributes_writes_as_before(warehouse_hook_cls, kind):
    """Airflow 3.1's context has no ``partition_key`` and its dag_run no such attribute."""
    from operator_support import make_context

    op, call = _operator(kind, warehouse_hook_cls)
    context = {**make_context(), "dag_run": SimpleNamespace(run_id="scheduled__2024-06-01")}
    op.execute(context)
    assert call.call_args.kwargs["output_partition"] is None
