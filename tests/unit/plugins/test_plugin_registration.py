"""The plugin is found by installing the package, and stays light for the components that load it."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from unittest import mock

from airflow_snowflake_batch.get_provider_info import get_provider_info
from airflow_snowflake_batch.links import SnowflakeBatchJobLink

PLUGIN = "airflow_snowflake_batch.plugins.provider_plugin.SnowflakeBatchPlugin"


def test_plugin_is_registered_by_entry_point_and_provider_info():
    (ours,) = [e for e in entry_points(group="airflow.plugins") if e.name == "snowflake_batch"]
    assert f"{ours.module}.{ours.attr}" == PLUGIN
    assert get_provider_info()["plugins"] == [{"name": "snowflake_batch", "plugin-class": PLUGIN}]
    plugin = ours.load()
    assert plugin.name == "snowflake_batch"
    assert [app["url_prefix"] for app in plugin.fastapi_apps] == ["/snowflake-batch"]
    assert [m.__name__ for m in plugin.listeners] == ["airflow_snowflake_batch.plugins.listener"]


def test_loading_the_plugin_imports_no_web_framework_or_hook():
    # Measured against what Airflow's plugin manager loads itself (on Airflow 3.1 it imports FastAPI).
    code = (
        "import json, sys; import airflow.plugins_manager; before = set(sys.modules); "
        "import airflow_snowflake_batch.plugins.provider_plugin; "
        "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('fastapi', 'starlette') "
        "or m.startswith('airflow_snowflake_batch.hooks') or m.startswith('snowflake.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_local_job_links_to_its_page_in_airflow():
    ti_key = mock.Mock(dag_id="d", run_id="r", task_id="t", map_index=-1)
    with mock.patch(
        "airflow_snowflake_batch.links.XCom.get_value",
        return_value={"url": "file:///ws/stages/ML/PUBLIC/OUT/J"},
    ):
        link = SnowflakeBatchJobLink().get_link(mock.Mock(), ti_key=ti_key)
    assert link.endswith("/snowflake-batch/job?dag_id=d&run_id=r&task_id=t&map_index=-1")
    assert not link.startswith("file:")
