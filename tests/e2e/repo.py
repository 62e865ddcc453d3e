"""Paths of the repository, its ``scripts/`` modules (not an installed package), and its DAG files for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO_ROOT / "dags_examples"


def script_module(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` once, as module ``scripts_<name>``."""
    module_name = f"scripts_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / "scripts" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def serialize_dag_file(path: Path) -> None:
    """Parse a DAG file of the DAGs folder into the metadata DB, as the DAG processor would.

    ``dag.test()`` needs its DAG serialized there. Airflow 3.3 parses the bundle itself; 3.1.0 does
    not and fails with "the dag is not serialized" (apache/airflow#56657), so do it here for all.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag, sync_bag_to_db

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = manager.get_bundle("dags-folder")
    bundle.initialize()
    bag = DagBag(dag_folder=path, bundle_path=bundle.path)
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, bundle.name, bundle.version)
