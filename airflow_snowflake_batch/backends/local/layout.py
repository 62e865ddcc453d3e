"""Where each Snowflake object of a local workspace lives on disk.

::

    <root>/databases/<DB>.duckdb                    one DuckDB file (catalog) per Snowflake database
    <root>/stages/<DB>/<SCHEMA>/<STAGE>/...         a stage is a folder ...
    <root>/stages/<DB>/<SCHEMA>/<STAGE>.stage.json  ... plus its properties (encryption, external)
    <root>/models/<DB>/<SCHEMA>/<MODEL>/            registry entry: model.json, versions/<VERSION>/
    <root>/jobs/<DB>/<SCHEMA>/<JOB>/                batch job record: job.json, status.json, job.log
    <root>/tmp/                                     scratch space of warehouse inference

Identifiers become path segments as stored; anything but letters, digits, ``_`` and ``$`` is
percent-encoded, so ``"My Stage"`` and ``MY_STAGE`` never share a folder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation

_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_$]+")
DATABASE_SUFFIX = ".duckdb"


def segment(identifier: Identifier) -> str:
    """A file name standing for one identifier (reversible with :func:`identifier_of`)."""
    if _PLAIN_SEGMENT.fullmatch(identifier.value):
        return identifier.value
    return quote(identifier.value, safe="")


def identifier_of(name: str) -> Identifier:
    return Identifier(unquote(name))


def write_json_atomic(path: Path, data: Any) -> None:
    """Readers see the old or the new content, never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    with path.open() as handle:
        return json.load(handle)


@dataclass(frozen=True)
class Layout:
    """Paths of a workspace rooted at ``root`` (an absolute path)."""

    root: Path

    @staticmethod
    def at(root: str | os.PathLike[str]) -> Layout:
        return Layout(Path(root).expanduser().resolve())

    # -- databases -------------------------------------------------------------------------------

    def database_file(self, database: Identifier) -> Path:
        return self.root / "databases" / f"{segment(database)}{DATABASE_SUFFIX}"

    def databases(self) -> dict[Identifier, Path]:
        folder = self.root / "databases"
        if not folder.is_dir():
            return {}
        return {
            identifier_of(path.name[: -len(DATABASE_SUFFIX)]): path
            for path in sorted(folder.iterdir())
            if path.name.endswith(DATABASE_SUFFIX)
        }

    # -- stages ----------------------------------------------------------------------------------

    def _schema_dir(self, kind: str, name: ObjectName) -> Path:
        if not name.is_qualified:
            raise ValueError(f"{name.sql} must be fully qualified (DATABASE.SCHEMA.NAME) here.")
        return self.root / kind / segment(name.database) / segment(name.schema)  # type: ignore[arg-type]

    def stage_dir(self, stage: ObjectName) -> Path:
        return self._schema_dir("stages", stage) / segment(stage.name)

    def stage_properties(self, stage: ObjectName) -> Path:
        return self._schema_dir("stages", stage) / f"{segment(stage.name)}.stage.json"

    def location_dir(self, location: StageLocation) -> Path:
        """The folder of a stage location (its path segments are already validated)."""
        return self.stage_dir(location.stage).joinpath(*location.path.strip("/").split("/"))

    # -- registry and jobs -----------------------------------------------------------------------

    def model_dir(self, model: ObjectName) -> Path:
        return self._schema_dir("models", model) / segment(model.name)

    def job_dir(self, job: ObjectName) -> Path:
        return self._schema_dir("jobs", job) / segment(job.name)

    def schema_jobs_dir(self, database: Identifier, schema: Identifier) -> Path:
        """The folder holding the job records of one schema."""
        return self.root / "jobs" / segment(database) / segment(schema)

    def scratch_dir(self) -> Path:
        """A new private folder for intermediate files; the caller removes it."""
        base = self.root / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=base))
