"""Stages of a local workspace: a folder per stage plus a small properties file."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from airflow_snowflake_batch.backends.base import StageFile, StageInfo, missing_stage_error
from airflow_snowflake_batch.backends.local.layout import Layout, read_json, write_json_atomic
from airflow_snowflake_batch.identifiers import ObjectName, StageLocation

ENCRYPTIONS = ("SNOWFLAKE_SSE", "SNOWFLAKE_FULL")


def create_stage(
    layout: Layout, stage: ObjectName, *, encryption: str, external: bool, replace: bool
) -> None:
    if encryption not in ENCRYPTIONS:
        raise ValueError(
            f"Unknown stage encryption {encryption!r}: expected one of {', '.join(ENCRYPTIONS)}."
        )
    properties = layout.stage_properties(stage)
    if properties.exists() and not replace:
        raise ValueError(f"Stage {stage.sql} already exists; pass replace=True to recreate it.")
    if replace:
        shutil.rmtree(layout.stage_dir(stage), ignore_errors=True)
    layout.stage_dir(stage).mkdir(parents=True, exist_ok=True)
    write_json_atomic(properties, {"encryption": None if external else encryption, "external": external})


def describe_stage(layout: Layout, stage: ObjectName) -> StageInfo | None:
    properties = layout.stage_properties(stage)
    if not properties.is_file():
        return None
    data = read_json(properties)
    return StageInfo(name=stage, is_internal=not data["external"], encryption=data["encryption"])


def require_stage(layout: Layout, location: StageLocation) -> None:
    """The provider's StageValidationError, as Snowflake's LIST of a missing stage gives (error 2003)."""
    if describe_stage(layout, location.stage) is None:
        raise missing_stage_error(location)


def list_files(layout: Layout, location: StageLocation) -> list[str]:
    """Files under the location, relative to it, sorted (``LIST @stage/path/``)."""
    return [f.path for f in list_file_details(layout, location)]


def list_file_details(layout: Layout, location: StageLocation) -> list[StageFile]:
    """:func:`list_files` with each file's modification time (``LIST``'s ``last_modified``)."""
    require_stage(layout, location)
    folder = layout.location_dir(location)
    if not folder.is_dir():
        return []
    # A symlinked file pointing outside the workspace is refused, not listed (and so never read).
    files = [
        StageFile(
            path=p.relative_to(folder).as_posix(),
            last_modified=datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc),
            size=stat.st_size,  # LIST's size; no md5 (reading every file would cost more than a listing)
        )
        for p in folder.rglob("*")
        if p.is_file() and layout.confine(p) and (stat := p.stat())
    ]
    return sorted(files, key=lambda f: f.path)


def remove_files(layout: Layout, location: StageLocation) -> None:
    """``REMOVE @stage/path/``: the files under the location (the stage itself stays)."""
    require_stage(layout, location)
    folder = layout.location_dir(location)
    if location.path:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        for child in folder.iterdir():
            # A link is removed itself, never what it points to.
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def put(layout: Layout, local_file: str | Path, location: StageLocation) -> str:
    """``PUT file://... @stage/path/``: copy a file into the location; return its full stage path."""
    require_stage(layout, location)
    source = Path(local_file)
    if not source.is_file():
        raise FileNotFoundError(f"{source} is not a file.")
    target = layout.confine(layout.location_dir(location) / source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"{location.sql}{source.name}"


def file_of(layout: Layout, stage_path: str, database: str | None, schema: str | None) -> Path:
    """The local file of a full stage path such as ``@DB.SC.IMAGES/cats/1.jpeg``."""
    location = StageLocation.parse(stage_path, what="stage file path").qualify(database, schema)
    path = layout.location_dir(location)
    if not path.is_file():
        raise FileNotFoundError(f"Stage file {stage_path} does not exist (looked for {path}).")
    return path
