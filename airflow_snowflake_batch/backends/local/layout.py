"""Where each Snowflake object of a local workspace lives on disk.

::

    <root>/databases/<DB>.duckdb                    one DuckDB file (catalog) per Snowflake database
    <root>/stages/<DB>/<SCHEMA>/<STAGE>/...         a stage is a folder ...
    <root>/stages/<DB>/<SCHEMA>/<STAGE>.stage.json  ... plus its properties (encryption, external)
    <root>/models/<DB>/<SCHEMA>/<MODEL>/            registry entry: model.json, versions/<VERSION>/
    <root>/jobs/<DB>/<SCHEMA>/<JOB>/                batch job record: job.json, status.json, job.log
    <root>/tmp/                                     scratch space of warehouse inference

Identifiers become path segments as stored; anything but letters, digits, ``_`` and ``$`` is
percent-encoded, so ``"My Stage"`` and ``MY_STAGE`` never share a folder, and dots too, so a name such
as ``".."`` never becomes a ``..`` segment.

Every path this backend opens comes from :class:`Layout`, whose :meth:`Layout.confine` resolves it
(following symlinks) and refuses it unless it lies inside the workspace: a symlink in a stage or job
folder that points outside is an error, never followed.
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

from airflow_snowflake_batch.exceptions import WorkspacePathError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation

_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_$]+")
DATABASE_SUFFIX = ".duckdb"


def segment(identifier: Identifier) -> str:
    """A file name standing for one identifier (reversible with :func:`identifier_of`)."""
    if _PLAIN_SEGMENT.fullmatch(identifier.value):
        return identifier.value
    # quote() leaves "." alone: encode it too, so "." and ".." never name a parent or the folder itself.
    return quote(identifier.value, safe="").replace(".", "%2E")


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

    def confine(self, path: str | os.PathLike[str]) -> Path:
        """``path`` resolved (symlinks followed), or an error when it lies outside the workspace.

        Every path of the workspace goes through here before it is opened, listed, written or
        removed, so neither a crafted name nor a symlink planted in a stage or job folder leads
        outside the root.
        """
        candidate = Path(path)
        resolved = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if not resolved.is_relative_to(self.root):
            raise WorkspacePathError(
                f"Refusing {os.fspath(path)!r}: it resolves to {resolved}, outside the local workspace "
                f"{self.root} (a symlink, or a name leading out of it). Remove the link or choose another name."
            )
        return resolved

    # -- databases -------------------------------------------------------------------------------

    def database_file(self, database: Identifier) -> Path:
        return self.confine(self.root / "databases" / f"{segment(database)}{DATABASE_SUFFIX}")

    def databases(self) -> dict[Identifier, Path]:
        folder = self.root / "databases"
        if not folder.is_dir():
            return {}
        return {
            identifier_of(path.name[: -len(DATABASE_SUFFIX)]): self.confine(path)
            for path in sorted(folder.iterdir())
            if path.name.endswith(DATABASE_SUFFIX)
        }

    # -- stages ----------------------------------------------------------------------------------

    def _schema_dir(self, kind: str, name: ObjectName) -> Path:
        if not name.is_qualified:
            raise ValueError(f"{name.sql} must be fully qualified (DATABASE.SCHEMA.NAME) here.")
        return self.root / kind / segment(name.database) / segment(name.schema)  # type: ignore[arg-type]

    def stage_dir(self, stage: ObjectName) -> Path:
        return self.confine(self._schema_dir("stages", stage) / segment(stage.name))

    def stage_properties(self, stage: ObjectName) -> Path:
        return self.confine(self._schema_dir("stages", stage) / f"{segment(stage.name)}.stage.json")

    def location_dir(self, location: StageLocation) -> Path:
        """The folder (or file) of a stage location; StageLocation refuses "." and ".." segments."""
        return self.confine(self.stage_dir(location.stage).joinpath(*location.path.strip("/").split("/")))

    # -- registry and jobs -----------------------------------------------------------------------

    def model_dir(self, model: ObjectName) -> Path:
        return self.confine(self._schema_dir("models", model) / segment(model.name))

    def job_dir(self, job: ObjectName) -> Path:
        return self.confine(self._schema_dir("jobs", job) / segment(job.name))

    def schema_jobs_dir(self, database: Identifier, schema: Identifier) -> Path:
        """The folder holding the job records of one schema."""
        return self.root / "jobs" / segment(database) / segment(schema)

    def scratch_dir(self) -> Path:
        """A new private folder for intermediate files; the caller removes it."""
        base = self.confine(self.root / "tmp")
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=base))
