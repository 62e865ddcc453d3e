"""The provider metadata Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_snowflake_batch.get_provider_info import get_provider_info

PACKAGE = "airflow-snowflake-batch"
HOOK_CLASS = "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook"
TRIGGER_MODULE = "airflow_snowflake_batch.triggers.batch_job"


def test_provider_info_validates_against_airflows_schema():
    import airflow
    import jsonschema

    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_listed_modules_and_hook_class_exist():
    import importlib

    info = get_provider_info()
    hook_module, _, hook_class = info["connection-types"][0]["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(hook_module), hook_class).conn_type == "snowflake_batch_local"
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


def _airflow(tmp_path: Path, *args: str) -> Any:
    """Run the ``airflow`` CLI of this interpreter in a fresh AIRFLOW_HOME and parse its JSON output."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    # Airflow may log to stdout before the table; the JSON document is the line that starts with "[".
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert lines, f"no JSON in the output of airflow {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return json.loads(lines[-1])


def test_airflow_cli_discovers_the_provider_hook_and_trigger(tmp_path):
    providers = _airflow(tmp_path, "providers", "list")
    assert PACKAGE in {p["package_name"] for p in providers}

    hooks = _airflow(tmp_path, "providers", "hooks")
    ours = [h for h in hooks if h.get("package_name") == PACKAGE]
    assert [(h["connection_type"], h["class"]) for h in ours] == [("snowflake_batch_local", HOOK_CLASS)]

    triggers = _airflow(tmp_path, "providers", "triggers")
    assert TRIGGER_MODULE in {t["class"] for t in triggers if t.get("package_name") == PACKAGE}


def test_connection_form_shows_the_local_fields_with_descriptions():
    """What the UI's connection form gets for the local type (Airflow 3.2+: conn-fields; 3.1: the hook's widgets)."""
    import importlib.util

    import airflow
    from packaging.version import Version

    if Version(Version(airflow.__version__).base_version) < Version("3.2") and not importlib.util.find_spec(
        "flask_appbuilder"
    ):
        pytest.skip("Airflow < 3.2 builds connection forms only with the FAB provider installed")
    services = pytest.importorskip("airflow.api_fastapi.core_api.services.ui.connections")
    (meta,) = [
        m for m in services.HookMetaService.hook_meta_data() if m.connection_type == "snowflake_batch_local"
    ]
    fields = meta.extra_fields
    assert set(fields) == {"workspace", "database", "schema"}
    for name, field in fields.items():
        title = field.get("title") or field.get("label") or (field.get("schema") or {}).get("title")
        description = field.get("description") or (field.get("schema") or {}).get("description")
        assert title and description, (name, field)
    assert "LocalWorkspace" in str(fields["workspace"])
    standard = meta.standard_fields
    assert standard.host.hidden and standard.login.hidden and standard.password.hidden


def test_local_connection_reads_fields_stored_by_older_forms(tmp_path, monkeypatch):
    """A connection saved by a form that prefixes its fields (extra__<type>__<name>) works the same."""
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.local import LocalWorkspace

    LocalWorkspace(tmp_path / "ws")
    extra = {
        "extra__snowflake_batch_local__workspace": str(tmp_path / "ws"),
        "extra__snowflake_batch_local__database": "ANALYTICS",
        "extra__snowflake_batch_local__schema": "SCORES",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_PREFIXED_WS", json.dumps({"conn_type": "snowflake_batch_local", "extra": extra})
    )
    with SnowflakeBatchInferenceHook("prefixed_ws") as hook:
        assert hook.test_connection() == (
            True,
            "Local workspace is ready (default namespace: ANALYTICS.SCORES).",
        )


def test_connection_form_widgets_for_airflow_before_3_2(monkeypatch):
    """Airflow < 3.2 (with the FAB provider) builds the form from the hook's WTForms fields."""
    from unittest import mock

    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    wtforms, fieldwidgets, babel = mock.MagicMock(), mock.MagicMock(), mock.MagicMock()
    babel.lazy_gettext.side_effect = lambda text: text
    for name, module in {
        "wtforms": wtforms,
        "flask_babel": babel,
        "flask_appbuilder": mock.MagicMock(fieldwidgets=fieldwidgets),
        "flask_appbuilder.fieldwidgets": fieldwidgets,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)

    widgets = SnowflakeBatchInferenceHook.get_connection_form_widgets()
    assert list(widgets) == ["workspace", "database", "schema"]
    labels = {c.args[0]: c.kwargs["description"] for c in wtforms.StringField.call_args_list}
    assert set(labels) == {"Workspace", "Database", "Schema"}
    assert "LocalWorkspace" in labels["Workspace"] and all(labels.values())
    behaviour = SnowflakeBatchInferenceHook.get_ui_field_behaviour()
    assert {"host", "login", "password", "port"} <= set(behaviour["hidden_fields"])
    assert behaviour["placeholders"]["workspace"] == "/path/to/workspace"
