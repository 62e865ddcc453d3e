"""The emulated model registry: models stored by the local backend's registry, shown as Snowflake shows them.

Models are logged with :class:`~airflow_snowflake_batch.local.LocalWorkspace` ``.log_model`` (the
local backend's registry: cloudpickle + a signature manifest) into the emulator's workspace, the one
storage the emulator borrows (a gap listed in README.md); names are parsed by the emulator's own
:mod:`emulator.names` and reach the workspace only as text. The registry statements snowflake-ml
sends are answered from it:

- ``SHOW MODELS [LIKE 'M'] IN SCHEMA DB.SC``
- ``SHOW VERSIONS [LIKE 'V'] IN MODEL DB.SC.M`` (with ``model_spec``: a minimal legacy model.yaml
  holding the signatures, and ``runnable_in`` ``["WAREHOUSE"]``)
- ``SHOW FUNCTIONS IN MODEL DB.SC.M VERSION V`` (every function returns an ``OBJECT``)

and ``MODEL(DB.SC.M, V)!FN(args)`` inside a query is rewritten to a DuckDB function that loads the
stored model and scores the rows for real with the local backend's scoring code.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from airflow_snowflake_batch.backends.local.layout import Layout, identifier_of, read_json
from airflow_snowflake_batch.backends.local.registry import MANIFEST_FILE, load_function
from emulator.names import Name, identifier
from emulator.rewrites import closing_paren
from emulator.server import Answer, SqlError

SCORE_FUNCTION = "EMULATOR_SCORE"
_SHOW_MODELS = re.compile(
    r"^\s*SHOW\s+MODELS(?:\s+LIKE\s+'(?P<like>[^']*)')?\s+IN\s+SCHEMA\s+(?P<schema>.+?)\s*;?\s*$", re.I | re.S
)
_SHOW_VERSIONS = re.compile(
    r"^\s*SHOW\s+VERSIONS(?:\s+LIKE\s+'(?P<like>[^']*)')?\s+IN\s+MODEL\s+(?P<model>.+?)\s*;?\s*$", re.I | re.S
)
_SHOW_FUNCTIONS = re.compile(
    r"^\s*SHOW\s+FUNCTIONS\s+IN\s+MODEL\s+(?P<model>\S+)\s+VERSION\s+(?P<version>\S+)\s*;?\s*$", re.I | re.S
)
_MODEL_CALL = re.compile(
    r"MODEL\(\s*(?P<model>[^,()]+?)\s*,\s*(?P<version>[^()]+?)\s*\)!(?P<fn>\"[^\"]+\"|\w+)\(", re.I
)


@dataclass(frozen=True)
class _Version:
    model: Name
    name: str
    functions: list[dict[str, Any]]
    directory: Path


class ModelStore:
    """Registry answers and real scoring over a :class:`LocalRegistry` in the emulator's workspace."""

    def __init__(self, layout: Layout) -> None:
        from airflow_snowflake_batch.local import LocalWorkspace

        self.layout = layout
        self.workspace = LocalWorkspace(layout.root)
        self._loaded: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    # -- statements --------------------------------------------------------------------------------

    def answer(self, text: str) -> Answer | None:
        if match := _SHOW_MODELS.match(text):
            return self._show_models(_schema_of(match["schema"]), match["like"])
        if match := _SHOW_VERSIONS.match(text):
            return self._show_versions(Name.parse(match["model"]), match["like"])
        if match := _SHOW_FUNCTIONS.match(text):
            return self._show_functions(Name.parse(match["model"]), match["version"])
        return None

    def _model_dir(self, model: Name) -> Path:
        # The workspace parses the emulator's own rendering of the name (text is its whole API).
        return self.layout.model_dir(self.workspace.name(model.sql))

    def _index(self, model: Name) -> dict[str, Any] | None:
        path = self._model_dir(model) / "model.json"
        return read_json(path) if path.is_file() else None

    def version_dir(self, model: Name, version: str) -> Path:
        """The stored version's folder (absent when there is no such version)."""
        versions = self._model_dir(model) / "versions"
        for folder in sorted(versions.iterdir()) if versions.is_dir() else ():
            if identifier_of(folder.name).value == version:
                return folder
        return versions / "missing"

    def _show_models(self, schema: tuple[str, str], like: str | None) -> Answer:
        rows = []
        folder = self.layout.root / "models" / schema[0] / schema[1]
        for path in sorted(folder.glob("*/model.json")) if folder.is_dir() else ():
            name = path.parent.name
            if like is not None and not _like(like, name):
                continue
            index = read_json(path)
            rows.append(
                {
                    "created_on": "2026-01-01 00:00:00",
                    "name": name,
                    "database_name": schema[0],
                    "schema_name": schema[1],
                    "comment": None,
                    "owner": "EMULATOR",
                    "default_version_name": index["default"],
                    "versions": json.dumps([v["name"] for v in index["versions"]]),
                    "aliases": json.dumps(index["aliases"]),
                }
            )
        return _table(
            rows,
            [
                "created_on",
                "name",
                "database_name",
                "schema_name",
                "comment",
                "owner",
                "default_version_name",
                "versions",
                "aliases",
            ],
        )

    def _show_versions(self, model: Name, like: str | None) -> Answer:
        index = self._index(model)
        if index is None:
            raise SqlError(2003, f"Model '{model.sql}' does not exist or not authorized.")
        aliases: dict[str, list[str]] = {}
        for alias, target in index["aliases"].items():
            aliases.setdefault(target, []).append(alias)
        first, last = index["versions"][0]["name"], index["versions"][-1]["name"]
        for system, target in (("DEFAULT", index["default"]), ("FIRST", first), ("LAST", last)):
            aliases.setdefault(target, []).append(system)
        rows = []
        for entry in index["versions"]:
            name = entry["name"]
            if like is not None and not _like(like, name):
                continue
            version = self._version(model, name)
            rows.append(
                {
                    "created_on": "2026-01-01 00:00:00",
                    "name": name,
                    "aliases": json.dumps(sorted(aliases.get(name, []))),
                    "comment": entry.get("comment"),
                    "database_name": model.database,
                    "schema_name": model.schema,
                    "model_name": model.name,
                    "is_default_version": str(name == index["default"]).lower(),
                    "functions": json.dumps([f["name"] for f in version.functions]),
                    "metadata": json.dumps({"metrics": entry.get("metrics") or {}}),
                    "user_data": "{}",
                    "model_spec": json.dumps(_model_spec(model, version)),
                    "runnable_in": json.dumps(["WAREHOUSE"]),
                    "inference_services": "[]",
                    "model_attributes": json.dumps({"task": "UNKNOWN", "framework": "sklearn"}),
                }
            )
        return _table(
            rows,
            [
                "created_on",
                "name",
                "aliases",
                "comment",
                "database_name",
                "schema_name",
                "model_name",
                "is_default_version",
                "functions",
                "metadata",
                "user_data",
                "model_spec",
                "runnable_in",
                "inference_services",
                "model_attributes",
            ],
        )

    def _show_functions(self, model: Name, version: str) -> Answer:
        found = self._version(model, identifier(version))
        rows = [
            {
                "name": f["name"],
                "return_type": "TABLE ()" if f["function_type"] == "TABLE_FUNCTION" else "OBJECT",
                "language": "PYTHON",
            }
            for f in found.functions
        ]
        return _table(rows, ["name", "return_type", "language"])

    def resolve(self, model: Name, version: str | None) -> str:
        """A version name from a version, an alias, or None (the default), or error 2003."""
        index = self._index(model)
        if index is None:
            raise SqlError(2003, f"Model '{model.sql}' does not exist or not authorized.")
        wanted = identifier(version or "DEFAULT")
        names = [v["name"] for v in index["versions"]]
        system = {"DEFAULT": index["default"], "FIRST": names[0], "LAST": names[-1]}
        found = system.get(wanted) or index["aliases"].get(wanted) or (wanted if wanted in names else None)
        if found is None:
            raise SqlError(
                2003, f"Model version '{wanted}' of '{model.sql}' does not exist or not authorized."
            )
        return found

    def function_entry(self, model: Name, version: str, function: str) -> dict[str, Any]:
        """A function of a version by target method or SQL name; the only one when ``function`` is empty."""
        functions = self._version(model, version).functions
        for entry in functions:
            if function in (entry["target_method"], entry["name"]) or (not function and len(functions) == 1):
                return entry
        raise SqlError(2003, f"Model {model.sql} version {version} has no function {function!r}.")

    def _version(self, model: Name, name: str) -> _Version:
        directory = self.version_dir(model, name)
        manifest = directory / MANIFEST_FILE
        if not manifest.is_file():
            raise SqlError(2003, f"Model version '{name}' of '{model.sql}' does not exist or not authorized.")
        return _Version(model, name, read_json(manifest)["functions"], directory)

    # -- scoring -----------------------------------------------------------------------------------

    def rewrite_model_calls(self, text: str) -> str:
        """``MODEL(M, V)!FN(a, b)`` → ``EMULATOR_SCORE('M', 'V', 'FN', TO_JSON(ARRAY_CONSTRUCT(a, b)))``."""
        out, pos = [], 0
        while match := _MODEL_CALL.search(text, pos):
            end = closing_paren(text, match.end())
            args = text[match.end() : end]
            model = Name.parse(match["model"])
            call = (
                f"PARSE_JSON({SCORE_FUNCTION}('{model.sql}', '{identifier(match['version'])}', "
                f"'{identifier(match['fn'])}', TO_JSON(ARRAY_CONSTRUCT({args}))))"
            )
            out += [text[pos : match.start()], call]
            pos = end + 1
        return "".join(out) + text[pos:]

    def install(self, duck_conn: Any) -> None:
        """Register the scoring function on fakesnow's DuckDB (its cursors share the function)."""
        with contextlib.suppress(Exception):  # left by an earlier account in this process
            duck_conn.remove_function(SCORE_FUNCTION)
        duck_conn.create_function(
            SCORE_FUNCTION,
            self._score,
            ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR"],
            "VARCHAR",
            type="arrow",
            side_effects=False,
        )

    def _score(self, models: pa.Array, versions: pa.Array, functions: pa.Array, args: pa.Array) -> pa.Array:
        import pandas as pd

        model_name, version, fn = models[0].as_py(), versions[0].as_py(), functions[0].as_py()
        loaded = self._function(Name.parse(model_name), version, fn)
        rows = [json.loads(a) for a in args.to_pylist()]
        features = pd.DataFrame([row[: len(loaded.inputs)] for row in rows], columns=loaded.input_names)
        outputs = loaded.run(features, loaded.resolve_params({}))
        records = outputs.to_dict(orient="records")
        return pa.array([json.dumps(r, default=_plain) for r in records], pa.string())

    def _function(self, model: Name, version: str, fn: str) -> Any:
        key = (model.sql, f"{version}!{fn}")
        with self._lock:
            if key not in self._loaded:
                found = self._version(model, version)
                entry = next(f for f in found.functions if f["name"] == fn)
                self._loaded[key] = load_function(found.directory, entry["target_method"])
            return self._loaded[key]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _schema_of(text: str) -> tuple[str, str]:
    parts = Name.parse(text.strip() + ".X")
    if parts.database is None or parts.schema is None:
        raise SqlError(1003, f"Expected DATABASE.SCHEMA, got {text!r}.")
    return parts.database, parts.schema


def _like(pattern: str, name: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.I) is not None


def _model_spec(model: Name, version: _Version) -> dict[str, Any]:
    """The smallest legacy model.yaml snowflake-ml's ``parse_model_spec`` accepts, with the real signatures."""
    import snowflake.ml.version as ml_version

    return {
        "creation_timestamp": "2026-01-01 00:00:00",
        "env": {
            "conda": "env/conda.yml",
            "pip": "env/requirements.txt",
            "python_version": "3.11",
            "cuda_version": None,
            "snowpark_ml_version": ml_version.VERSION,
        },
        "metadata": None,
        "model_type": "sklearn",
        "models": {},
        "name": model.name,
        "signatures": {f["target_method"]: f["signature"] for f in version.functions},
        "version": "2023-12-01",
        "min_snowpark_ml_version": "1.0.0",
        "task": "UNKNOWN",
    }


def _table(rows: list[dict[str, Any]], columns: list[str]) -> Answer:
    return Answer(pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns}))
