"""OpenLineage of the three operators: datasets, facets and namespaces, with and without the provider.

The operators run for real on a local workspace (DuckDB tables, a detached job process); the Snowflake
namespace is checked against the Snowflake provider's own, so datasets of both providers line up.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from unit.operators.operator_support import make_context
from unit.snowflake_doubles import CONN, CONN_ID

from airflow_snowflake_batch.local import LocalWorkspace
from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator, _Job
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

LOCAL_CONN = "lineage_ws"


@pytest.fixture
def workspace(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> LocalWorkspace:
    ws = LocalWorkspace(tmp_path / "ws")
    rng = np.random.default_rng(3)
    features = pd.DataFrame({"F1": rng.normal(size=30), "F2": rng.normal(size=30)})
    ws.write_table("FEATURES", features.assign(ID=np.arange(30)))
    ws.write_table("KEPT", pd.DataFrame({"ID": np.arange(0, 30, 2)}))
    ws.create_stage("OUT")
    model = LinearRegression().fit(features, features.F1 - features.F2)
    ws.log_model(model, model_name="REG", version_name="V1", sample_input_data=features)
    monkeypatch.setenv(f"AIRFLOW_CONN_{LOCAL_CONN.upper()}", ws.connection_uri())
    return ws


def _warehouse(**kwargs: Any) -> SnowflakeWarehouseInferenceOperator:
    return SnowflakeWarehouseInferenceOperator(
        task_id="score",
        snowflake_conn_id=LOCAL_CONN,
        model_name="REG",
        input_query=(
            "WITH k AS (SELECT ID FROM kept) SELECT f.F1, f.F2 FROM features f JOIN k ON f.ID = k.ID"
        ),
        output_table="SCORES",
        **kwargs,
    )


def _names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def test_warehouse_lineage_reads_the_query_tables_and_writes_the_output(workspace: LocalWorkspace) -> None:
    op = _warehouse()
    assert op.get_openlineage_facets_on_complete(None) is None  # nothing ran yet
    result = op.execute(make_context())
    lineage = op.get_openlineage_facets_on_complete(None)

    # The CTE is not a table; unqualified names get the connection's database and schema.
    assert _names(lineage.inputs) == [
        ("snowflake://local", "ML.PUBLIC.FEATURES"),
        ("snowflake://local", "ML.PUBLIC.KEPT"),
    ]
    assert _names(lineage.outputs) == [("snowflake://local", "ML.PUBLIC.SCORES")]
    assert result["rows_written"] == 15
    assert lineage.outputs[0].outputFacets["outputStatistics"].rowCount == 15
    model = lineage.run_facets["snowflakeModel"]
    assert (model.name, model.version, model.function) == ("ML.PUBLIC.REG", "V1", None)
    # A facet of its own, serialized by the OpenLineage client like any other.
    from openlineage.client.serde import Serde

    assert Serde.to_dict(model) | {"_producer": "", "_schemaURL": ""} == {
        "name": "ML.PUBLIC.REG",
        "version": "V1",
        "_producer": "",
        "_schemaURL": "",
    }


def test_batch_job_and_load_lineage_chain_through_the_job_folder(workspace: LocalWorkspace) -> None:
    batch = SnowflakeBatchInferenceOperator(
        task_id="score",
        snowflake_conn_id=LOCAL_CONN,
        model_name="REG",
        input_table="FEATURES",
        compute_pool="POOL",
        output_stage_location="@OUT/preds/",
        poll_interval=0.2,
    )
    job = batch.execute(make_context())
    load = SnowflakeLoadBatchResultsOperator(
        task_id="load",
        snowflake_conn_id=LOCAL_CONN,
        output_location=job["output_location"],
        target_table="BATCH_SCORES",
    )
    loaded = load.execute(make_context())
    batch_lineage = batch.get_openlineage_facets_on_complete(None)
    load_lineage = load.get_openlineage_facets_on_complete(None)

    folder = f"ML.PUBLIC.OUT/preds/{job['job_name']}"
    assert _names(batch_lineage.inputs) == [("snowflake://local", "ML.PUBLIC.FEATURES")]
    assert _names(batch_lineage.outputs) == [("snowflake://local", folder)]
    assert batch_lineage.run_facets["externalQuery"].externalQueryId == job["job_id"]
    assert batch_lineage.run_facets["snowflakeModel"].version == "V1"  # resolved from the default
    # The load reads the folder the job wrote: one lineage graph from FEATURES to BATCH_SCORES.
    assert _names(load_lineage.inputs) == [("snowflake://local", folder)]
    assert _names(load_lineage.outputs) == [("snowflake://local", "ML.PUBLIC.BATCH_SCORES")]
    assert load_lineage.outputs[0].outputFacets["outputStatistics"].rowCount == loaded["rows_loaded"] == 30


def test_stage_input_is_a_stage_folder_dataset(workspace: LocalWorkspace) -> None:
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.utils.lineage import source_dataset_names

    with SnowflakeBatchInferenceHook(LOCAL_CONN) as hook:
        assert source_dataset_names(hook, input_stage_location="@OUT/in/day=1/") == ["ML.PUBLIC.OUT/in/day=1"]


def test_without_the_openlineage_provider_lineage_is_none_and_tasks_run(
    workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hide the provider and the client as if the [openlineage] extra were not installed.
    for name in list(sys.modules):
        if name.startswith(
            (
                "openlineage",
                "airflow.providers.openlineage",
                "airflow_snowflake_batch.utils.openlineage_facets",
            )
        ):
            monkeypatch.delitem(sys.modules, name)
    for name in ("openlineage", "airflow.providers.openlineage"):
        monkeypatch.setitem(sys.modules, name, None)

    op = _warehouse()
    assert op.execute(make_context())["rows_written"] == 15
    assert op.get_openlineage_facets_on_complete(None) is None


@pytest.mark.parametrize(
    ("extra", "namespace"),
    [
        ({"account": "acme-test"}, "snowflake://acme-test"),  # organization-account: as is
        ({"account": "xy12345", "region": "eu-west-1"}, "snowflake://xy12345.eu-west-1.aws"),  # locator
        ({"account": "xy12345"}, "snowflake://xy12345.us-west-1.aws"),
    ],
    ids=["org-account", "locator-region", "locator"],
)
def test_snowflake_namespace_is_the_account_as_the_snowflake_provider_names_it(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], namespace: str
) -> None:
    import json

    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({**CONN, "extra": {**CONN["extra"], **extra}})
    )
    with SnowflakeBatchInferenceHook(CONN_ID) as hook:
        assert hook.openlineage_namespace() == namespace


def test_input_files_is_its_stage_folder_dataset(workspace: LocalWorkspace) -> None:
    """Issue 19, item 4: lineage raised "Exactly one of ... got none" for a job over input_files."""
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.utils.lineage import source_dataset_names

    with SnowflakeBatchInferenceHook(LOCAL_CONN) as hook:
        # Parsed, not listed: the folder need not exist when lineage is built.
        assert source_dataset_names(hook, input_files="@IMAGES/cats/") == ["ML.PUBLIC.IMAGES/cats"]


def test_batch_job_lineage_over_input_files_reads_the_stage_folder(workspace: LocalWorkspace) -> None:
    batch = SnowflakeBatchInferenceOperator(
        task_id="score",
        snowflake_conn_id=LOCAL_CONN,
        model_name="REG",
        input_files="@IMAGES/cats/",
        compute_pool="POOL",
        output_stage_location="@OUT/preds/",
    )
    # What execute() records once the job is submitted; lineage reads only this and the arguments.
    batch._job = _Job("ML.PUBLIC.JOB_1", "JOB_1", "@ML.PUBLIC.OUT/preds/JOB_1/")

    lineage = batch.get_openlineage_facets_on_complete(None)

    assert _names(lineage.inputs) == [("snowflake://local", "ML.PUBLIC.IMAGES/cats")]
    assert _names(lineage.outputs) == [("snowflake://local", "ML.PUBLIC.OUT/preds/JOB_1")]
