"""Whether a batch job may write to its output stage and folder.

The hook describes the stage and lists the folder (I/O); these functions decide, before anything
is dropped, removed or submitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_snowflake_batch.constants import SUCCESS_FILE
from airflow_snowflake_batch.exceptions import StageValidationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_snowflake_batch.backends.base import InputSource, SaveMode, StageInfo
    from airflow_snowflake_batch.identifiers import StageLocation


def check_output_stage(base: StageLocation, stage: StageInfo | None, *, file_inputs: bool) -> str | None:
    """The output stage exists and is internal; jobs over files need ``SNOWFLAKE_SSE`` encryption.

    Returns a warning for the log when the encryption would not suit file inputs but the job has none.
    """
    if stage is None:
        raise StageValidationError(
            f"Output stage {base.stage.sql} does not exist. Create it with "
            f"CREATE STAGE {base.stage.sql} ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')."
        )
    if not stage.is_internal:
        raise StageValidationError(
            f"Output stage {base.stage.sql} is external; batch inference writes only to internal stages."
        )
    if stage.encryption == "SNOWFLAKE_SSE":
        return None
    message = (
        f"Output stage {base.stage.sql} uses {stage.encryption or 'unknown'} encryption; "
        "jobs over files (images, audio, video) support only SNOWFLAKE_SSE."
    )
    if file_inputs:
        raise StageValidationError(message + " Recreate it with ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE').")
    return message


def check_nesting(base: StageLocation, job_folder: StageLocation, source: InputSource) -> None:
    """Inputs and outputs do not lie inside each other, so no run reads another's results as input."""
    inputs = source.stage_location or (source.files.location if source.files else None)
    if inputs is not None and base.contains(inputs):
        raise StageValidationError(
            f"Input location {inputs.sql} lies inside the output location {base.sql}; "
            "choose an output location outside the input files."
        )
    # A later run would read this run's results (Parquet files, _SUCCESS) as input files.
    if inputs is not None and inputs.contains(job_folder):
        raise StageValidationError(
            f"Output folder {job_folder.sql} lies inside the input location {inputs.sql}; "
            "choose an output location outside the input files."
        )


# How long Snowflake keeps a finished job service (DESCRIBE SERVICE, SHOW SERVICES): 14 days since the
# 2025_06 behavior change bundle ("Snowpark Container Services job service: Retention-time increase",
# BCR-2093); before it, 7 days for ASYNC jobs (run_batch's) and 10-20 minutes for synchronous ones.
JOB_RETENTION_DAYS = 14


def check_folder_for_mode(job_folder: StageLocation, files: Sequence[str], save_mode: SaveMode) -> None:
    """``save_mode='error'`` refuses a job folder that already holds files.

    The folder is checked only when no job of its name exists (a job that does is re-attached to, reused,
    or cleared first), so files there belong to a job Snowflake no longer knows: most often one that ended
    more than :data:`JOB_RETENTION_DAYS` days ago (a cleared run of an older day), or a dropped one. The
    error says so, and whether the folder holds finished results (``_SUCCESS``).
    """
    if save_mode == "error" and files:
        finished = (
            f"It holds {SUCCESS_FILE}: the finished results of that job, which a load can still read. "
            if SUCCESS_FILE in files
            else ""
        )
        raise StageValidationError(
            f"Output folder {job_folder.sql} already holds {len(files)} file(s) (e.g. {files[0]!r}) but no job "
            f"named {job_folder.path.rstrip('/').rsplit('/', 1)[-1]} exists: most likely an earlier run's job whose "
            f"metadata Snowflake no longer keeps (about {JOB_RETENTION_DAYS} days after a job ends), or a "
            f"dropped one. {finished}save_mode is 'error', so nothing was submitted. Use save_mode='overwrite' "
            "to score again into this folder, or another job_name."
        )
