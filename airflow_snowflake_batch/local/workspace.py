"""LocalWorkspace: a folder that plays a Snowflake account, for DAG tests, demos and e2e tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_snowflake_batch.backends.base import ModelVersionRef
from airflow_snowflake_batch.backends.local import database as duck
from airflow_snowflake_batch.backends.local import stages
from airflow_snowflake_batch.backends.local.layout import Layout
from airflow_snowflake_batch.backends.local.registry import LocalRegistry
from airflow_snowflake_batch.constants import LOCAL_CONN_TYPE
from airflow_snowflake_batch.exceptions import InputValidationError, WorkspacePathError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation

# The folders a workspace holds (see backends/local/layout.py). A non-empty folder with none of them
# is something else: most often the folder above the workspace (the demo's is
# ./demo-workspace/local-snowflake, not ./demo-workspace).
_WORKSPACE_ENTRIES = frozenset({"databases", "stages", "models", "jobs", "tmp"})

# Registry.log_model arguments that shape only Snowflake's deployment: accepted, ignored locally.
_DEPLOYMENT_OPTIONS = frozenset(
    {
        "conda_dependencies", "pip_requirements", "artifact_repository_map", "resource_constraint",
        "target_platforms", "python_version", "user_files", "code_paths", "ext_modules", "task",
    }
)  # fmt: skip


class LocalWorkspace:
    """
    A Snowflake account in a folder: DuckDB tables, folder stages, a model registry and batch jobs.

    Tables are addressed ``DB.SCHEMA.TABLE`` exactly as in Snowflake (each database is a DuckDB file
    attached under its name), so a query such as ``SELECT * FROM ML.PUBLIC.INPUT WHERE ...`` runs
    unchanged. Point an Airflow connection at it with :meth:`connection_uri`::

        ws = LocalWorkspace(tmp_path / "ws")
        ws.write_table("INPUT", frame)
        ws.create_stage("OUT")
        ws.log_model(model, model_name="CHURN", version_name="V1", sample_input_data=frame)
        monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_LOCAL", ws.connection_uri())

    Several processes may use one workspace at once; every operation opens DuckDB briefly and waits
    for other processes' locks. Batch jobs run in detached processes; set the environment variable
    ``AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY`` (seconds) in the submitting process to make each job
    wait that long once RUNNING (to test cancelling or killing a running job).

    :param root: The workspace folder (created when missing). A folder that holds other files and
        none of a workspace's folders is refused (:class:`~airflow_snowflake_batch.exceptions.WorkspacePathError`)
        rather than turned into an empty workspace.
    :param database: Database for unqualified names (created when missing).
    :param schema: Schema for unqualified names (created when missing).
    """

    def __init__(self, root: str | Path, *, database: str = "ML", schema: str = "PUBLIC") -> None:
        self.layout = Layout.at(root)
        _refuse_foreign_folder(self.layout.root)
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.database = Identifier.parse(database, what="database")
        self.schema = Identifier.parse(schema, what="schema")
        self.registry = LocalRegistry(self.layout)
        with database_connect(self, create=(self.database,)) as con:
            duck.ensure_schema(con, self.database, self.schema)

    @property
    def root(self) -> Path:
        return self.layout.root

    def name(self, text: str, *, what: str = "object name") -> ObjectName:
        """A user-given name qualified with this workspace's database and schema."""
        return ObjectName.parse(text, what=what).qualify(self.database, self.schema)

    def location(self, text: str) -> StageLocation:
        return StageLocation.parse(text).qualify(self.database, self.schema)

    def connection_uri(self) -> str:
        """The value of ``AIRFLOW_CONN_<ID>`` that makes the hook use this workspace (JSON form)."""
        extra = {"workspace": str(self.root), "database": self.database.value, "schema": self.schema.value}
        return json.dumps({"conn_type": LOCAL_CONN_TYPE, "extra": extra})

    # -- tables ----------------------------------------------------------------------------------

    def write_table(self, name: str, dataframe: Any, mode: str = "overwrite") -> int:
        """Write a pandas DataFrame to a table (columns named as in the frame); return the rows written.

        :param name: Table name; unqualified parts default to the workspace's database and schema.
        :param dataframe: The rows.
        :param mode: ``overwrite`` (replace the table) or ``append`` (add rows by column name).
        """
        if mode not in ("overwrite", "append"):
            raise ValueError(f"mode must be 'overwrite' or 'append', got {mode!r}.")
        table = self.name(name, what="table name")
        with database_connect(self, create=(table.database,)) as con:  # type: ignore[arg-type]
            duck.ensure_schema(con, table.database, table.schema)  # type: ignore[arg-type]
            con.register("_frame", dataframe)
            if mode == "append" and duck.table_exists(con, table):
                con.execute(f"INSERT INTO {table.quoted} BY NAME SELECT * FROM _frame")
            else:
                con.execute(f"CREATE OR REPLACE TABLE {table.quoted} AS SELECT * FROM _frame")
            con.unregister("_frame")
        return len(dataframe)

    def read_table(self, name: str) -> Any:
        """The table's rows as a pandas DataFrame; a missing table is an error listing the tables there are."""
        table = self.name(name, what="table name")
        if not self.table_exists(table.sql):
            raise InputValidationError(
                f"Table {table.sql} does not exist in the local workspace {self.root}. "
                f"Its tables: {', '.join(self.tables()) or 'none'}."
            )
        return self.sql(f"SELECT * FROM {table.quoted}")

    def tables(self) -> list[str]:
        """The workspace's tables, as ``DB.SCHEMA.TABLE`` names, sorted."""
        with database_connect(self) as con:
            return duck.list_tables(con)

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """Run one statement (DuckDB SQL, three-part names); its rows as a pandas DataFrame.

        A statement naming a table that does not exist fails with an error listing the tables there are.
        """
        import duckdb

        with database_connect(self) as con:
            try:
                return duck.query_frame(con, query, params)
            except duckdb.CatalogException as exc:
                raise InputValidationError(
                    f"{exc} (in the local workspace {self.root}; its tables: "
                    f"{', '.join(duck.list_tables(con)) or 'none'})."
                ) from exc

    def table_exists(self, name: str) -> bool:
        table = self.name(name, what="table name")
        if table.database not in self.layout.databases():
            return False
        with database_connect(self) as con:
            return duck.table_exists(con, table)

    # -- stages ----------------------------------------------------------------------------------

    def create_stage(
        self, name: str, *, encryption: str = "SNOWFLAKE_SSE", external: bool = False, replace: bool = False
    ) -> ObjectName:
        """``CREATE STAGE name ENCRYPTION = (TYPE = encryption)``; return its qualified name.

        :param name: Stage name.
        :param encryption: ``SNOWFLAKE_SSE`` or ``SNOWFLAKE_FULL``.
        :param external: Make it behave as an external stage (readable; batch jobs refuse to write to it).
        :param replace: Recreate it (and drop its files) if it exists.
        """
        stage = self.name(name, what="stage name")
        stages.create_stage(self.layout, stage, encryption=encryption, external=external, replace=replace)
        return stage

    def put(self, local_file: str | Path, location: str) -> str:
        """Copy a local file into a stage location; return its full stage path (``@DB.SC.ST/path/f``)."""
        return stages.put(self.layout, local_file, self.location(location))

    def list_files(self, location: str) -> list[str]:
        """Files under a stage location, relative to it, sorted."""
        return stages.list_files(self.layout, self.location(location))

    def path_of(self, location: str) -> Path:
        """The local folder (or file) behind a stage location."""
        return self.layout.location_dir(self.location(location))

    # -- registry --------------------------------------------------------------------------------

    def log_model(
        self,
        model: Any,
        *,
        model_name: str,
        version_name: str | None = None,
        comment: str | None = None,
        metrics: dict[str, Any] | None = None,
        signatures: dict[str, Any] | None = None,
        sample_input_data: Any = None,
        target_methods: list[str] | None = None,
        options: dict[str, Any] | None = None,
        **deployment_options: Any,
    ) -> ModelVersionRef:
        """Log a model version, as ``snowflake.ml.registry.Registry.log_model`` does.

        :param model: A scikit-learn estimator or pipeline, an XGBoost/LightGBM scikit-learn-API
            estimator, or a ``snowflake.ml.model.custom_model.CustomModel``.
        :param model_name: Model name; unqualified parts default to the workspace's.
        :param version_name: Version name (a random one when None). The first version is the default.
        :param comment: Free text kept with the version.
        :param metrics: JSON-serialisable metrics kept with the version.
        :param signatures: ``{target_method: ModelSignature}``; inferred from ``sample_input_data`` when None.
        :param sample_input_data: Rows to infer signatures from (the target methods run on them).
        :param target_methods: Methods to expose; defaults as snowflake-ml's handler for the model type.
            Same as ``options={"target_methods": [...]}``.
        :param options: ``Registry.log_model`` options; only ``target_methods`` matters locally.
        :param deployment_options: ``conda_dependencies``, ``pip_requirements``, ``target_platforms``...
            accepted for parity with Snowflake and ignored.
        """
        unknown = sorted(set(deployment_options) - _DEPLOYMENT_OPTIONS)
        if unknown:
            raise TypeError(f"log_model() got unexpected keyword argument(s) {unknown}.")
        from_options = (options or {}).get("target_methods")
        if target_methods and from_options and list(target_methods) != list(from_options):
            raise ValueError("target_methods and options['target_methods'] disagree; give only one.")
        return self.registry.log(
            model,
            model=self.name(model_name, what="model_name"),
            version=Identifier.parse(version_name, what="version_name") if version_name else None,
            signatures=signatures,
            sample_input_data=sample_input_data,
            target_methods=list(target_methods or from_options or []) or None,
            comment=comment,
            metrics=metrics,
        )

    def get_model_version(self, model_name: str, version_or_alias: str | None = None) -> ModelVersionRef:
        """A version by name or alias (``DEFAULT``, ``FIRST``, ``LAST`` or one set); None is the default."""
        return self.registry.resolve(self.name(model_name, what="model_name"), version_or_alias)

    def set_alias(self, model_name: str, version_name: str, alias: str) -> None:
        """``ModelVersion.set_alias``: ``alias`` now names ``version_name``."""
        self.registry.set_alias(self.name(model_name, what="model_name"), version_name, alias)

    def unset_alias(self, model_name: str, alias: str) -> None:
        self.registry.unset_alias(self.name(model_name, what="model_name"), alias)

    def set_default_version(self, model_name: str, version_name: str) -> None:
        """``model.default = version_name``."""
        self.registry.set_default_version(self.name(model_name, what="model_name"), version_name)


def _refuse_foreign_folder(root: Path) -> None:
    if not root.is_dir():
        return
    entries = sorted(p.name for p in root.iterdir())
    if entries and not _WORKSPACE_ENTRIES.intersection(entries):
        raise WorkspacePathError(
            f"{root} is not a local workspace: it holds {len(entries)} other entries (e.g. {entries[:3]}) and "
            f"none of a workspace's folders ({', '.join(sorted(_WORKSPACE_ENTRIES))}). Give the workspace "
            "folder itself (the demo's is ./demo-workspace/local-snowflake), or a new or empty folder."
        )


def database_connect(workspace: LocalWorkspace, *, create: tuple[Identifier, ...] = ()) -> Any:
    return duck.connect(workspace.layout, workspace.database, workspace.schema, create=create)
