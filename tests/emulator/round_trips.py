"""The statements each unit of work sends to the emulated account, by shape, beside the minimum it needs.

Shared by ``benchmarks/round_trips.py`` (prints the table) and ``tests/emulator/test_round_trips.py``
(pins the shapes, so a new round trip fails a test). Each unit is the real operator or hook call, as
the example DAGs make it (``dags_examples/nightly_*_scoring.py``: a query input, a day's partition):

- ``warehouse task``: ``SnowflakeWarehouseInferenceOperator.execute``;
- ``batch submit``: ``SnowflakeBatchInferenceOperator.execute`` up to its deferral;
- ``trigger poll``: one status round of the triggerer's shared poller (its session already open);
- ``sync wait poll``: one status check of a task waiting on its worker (``wait_for_completion``, not deferrable);
- ``batch finish``: ``execute_complete`` after the trigger fired;
- ``load``: ``SnowflakeLoadBatchResultsOperator.execute`` of the job's folder;
- ``cleanup``: the cleanup operator's plan and run, dropping the one finished job and its folder.

A statement's shape is its text with literals, numbers and generated names replaced, so runs compare.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulator.account import EmulatedAccount

DAY = "2024-03-01"
# A database of its own, so the example DAGs' tests (database ML) seed theirs on the same account.
SCHEMA = "ROUND_TRIPS.PUBLIC"
MODEL = f"{SCHEMA}.CHURN_RISK"
INPUT_QUERY = (
    "SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS\n"
    f"FROM {SCHEMA}.CUSTOMER_FEATURES WHERE FEATURE_DATE = '{DAY}'"
)
OUTPUT_STAGE_LOCATION = f"@{SCHEMA}.BATCH_OUTPUT/churn_risk/"

# The session's tag, once per session: Snowpark's update_query_tag reads the current tag to merge
# into (one the user, the account or the connection's session_parameters set is kept), then sets it.
_TAG = [
    ("SHOW PARAMETERS LIKE ? [tag]", 1, "read the session's QUERY_TAG, to add the task's to it"),
    ("ALTER SESSION SET QUERY_TAG = ?", 1, "tag the session with dag, task and run (cost attribution)"),
]
# rescore="if_changed" (docs/rescoring.rst): the input's fingerprint, the output's record, and its
# replacement; a missing runs table is created once per schema, but CREATE ... IF NOT EXISTS is one
# statement either way.
_FINGERPRINT = (
    "SELECT HASH_AGG(*), COUNT(*) FROM (input)",
    1,
    "the input's fingerprint, computed where the rows are",
)
_RECORD_WRITE = [
    ("DELETE FROM AIRFLOW_SCORING_RUNS", 1, "the replaced output's record goes before the write"),
    ("CREATE TABLE IF NOT EXISTS AIRFLOW_SCORING_RUNS", 1, "the runs table, when missing"),
    ("INSERT INTO AIRFLOW_SCORING_RUNS", 1, "the record of what scored the output"),
]
_VERSION = [
    ("SHOW VERSIONS LIKE ? IN MODEL", 1, "the model and version exist (a clear error before anything runs)"),
    ("SHOW FUNCTIONS IN MODEL", 1, "the function's signature, to check the input's columns against"),
]

# The minimum each unit needs: (what, statements, why).
MINIMUM: dict[str, list[tuple[str, int, str]]] = {
    "warehouse task": [
        *_TAG,
        *_VERSION,
        ("describe the input query", 1, "its columns, checked against the signature"),
        _FINGERPRINT,
        ("SELECT FROM AIRFLOW_SCORING_RUNS", 1, "the record of what scored the partition: reuse or score"),
        *_RECORD_WRITE,
        ("SHOW WAREHOUSES", 1, "the session's warehouse size, for the run's estimated credits"),
        ("CREATE TEMPORARY TABLE ... AS SELECT MODEL(...)!FN(...)", 1, "score once, server-side"),
        ("describe the scored table", 1, "its columns, to create the output table and add what it lacks"),
        ("SELECT COUNT(*) FROM tmp", 1, "the rows written (the task's result)"),
        ("CREATE TABLE IF NOT EXISTS ... LIKE tmp", 1, "the output table, when missing"),
        ("SHOW COLUMNS IN TABLE", 1, "the columns the output table lacks (one ALTER each)"),
        ("BEGIN / DELETE partition / INSERT / COMMIT", 4, "replace the day's rows atomically"),
        ("DROP TABLE tmp", 1, "the temporary table (the session may outlive the task in a pool)"),
    ],
    "batch submit": [
        *_TAG,
        *_VERSION,
        (
            "DESCRIBE SERVICE (this try's job name)",
            1,
            "re-attach to a job of this task instead of submitting twice",
        ),
        ("describe the input query", 1, "its columns, checked against the signature"),
        _FINGERPRINT,
        *_RECORD_WRITE,
        ("SHOW STAGES LIKE ?", 1, "the output stage exists and is internal (its encryption suits the input)"),
        ("LIST the job folder", 1, "save_mode='error' refuses a folder holding files"),
        ("COPY INTO @stage (input unload)", 1, "run_batch hands the job the query's rows as Parquet"),
        ("EXECUTE INFERENCE JOB SERVICE", 1, "the submission"),
        ("DESCRIBE SERVICE", 1, "the new job's status, returned to the task"),
    ],
    "trigger poll": [
        ("SHOW JOB SERVICES IN SCHEMA", 1, "every watched job of the schema in one statement"),
    ],
    "sync wait poll": [
        ("DESCRIBE SERVICE", 1, "the job's status"),
    ],
    "batch finish": [
        *_TAG,
        ("SYSTEM$GET_SERVICE_LOGS", 1, "the job's logs, copied into the task log"),
        ("LIST the job folder", 1, "_SUCCESS is there (results complete) and whether any Parquet file is"),
        ("GET_JOB_HISTORY() of the job", 1, "its run time (created to completed), for the run's cost"),
        ("SHOW COMPUTE POOLS LIKE ?", 1, "the pool's instance family, for the run's cost"),
    ],
    "load": [
        *_TAG,
        ("LIST the job folder", 1, "_SUCCESS, and the Parquet files to load"),
        ("DELETE FROM AIRFLOW_SCORING_RUNS", 1, "loaded rows replace what a warehouse run recorded"),
        ("CREATE FILE FORMAT IF NOT EXISTS", 1, "INFER_SCHEMA takes a named file format only"),
        (
            "CREATE TABLE IF NOT EXISTS ... USING TEMPLATE",
            1,
            "the table, from the files' columns, when missing",
        ),
        ("INFER_SCHEMA", 1, "the files' columns, to add what the table lacks"),
        ("SHOW COLUMNS IN TABLE", 1, "the columns the table lacks"),
        ("ALTER TABLE ADD COLUMN", 1, "the partition column (the files do not hold it)"),
        ("CREATE TEMPORARY TABLE LIKE", 1, "staging: the partition's rows are replaced in one transaction"),
        ("COPY INTO tmp", 1, "load the files by column name"),
        ("UPDATE tmp SET partition", 1, "the partition columns' values"),
        ("BEGIN / DELETE partition / INSERT / COMMIT", 4, "replace the day's rows atomically"),
        ("DROP TABLE tmp", 1, "the staging table"),
    ],
    "cleanup": [
        *_TAG,
        ("SHOW JOB SERVICES IN SCHEMA", 1, "the jobs, their status and age"),
        ("LIST the output location", 1, "the job folders and their age"),
        ("DROP SERVICE IF EXISTS", 1, "the finished job (one per job)"),
        ("REMOVE each folder", 2, "the job's folder, and the input run_batch unloaded for it"),
    ],
}

UNITS = tuple(MINIMUM)

# What the libraries send on their own, beyond the work's minimum, through the public API the provider
# calls (a shape pattern, and why it is sent). Every statement a unit sends is either in its minimum
# or here (tests/emulator/test_round_trips.py checks it).
LIBRARY: list[tuple[str, str]] = [
    (
        r"^SHOW DATABASES LIKE|^SHOW SCHEMAS LIKE",
        "snowflake-ml's Registry() checks the database and schema exist",
    ),
    (r"ML_PLATFORM_CAPABILITIES", "snowflake-ml reads the account's ML features (once per process)"),
    (r"^SHOW MODELS LIKE", "snowflake-ml's Registry.get_model() checks the model exists"),
    (r"^SHOW VERSIONS IN MODEL", "snowflake-ml's Model.version() looks for an alias of that name first"),
    (
        r"^SHOW VERSIONS LIKE",
        "snowflake-ml checks the version exists, then reads its model spec (with details): the "
        "spec's later reads (run, run_batch) are answered from the first (backends/snowflake.py)",
    ),
    (r"^\[describe\]", "snowflake-ml's run() describes its input and each DataFrame it builds on it"),
    (
        r"QUOTED_IDENTIFIERS_IGNORE_CASE|^SHOW PARAMETERS LIKE \? IN SESSION",
        "snowflake-ml's run() checks how identifiers resolve",
    ),
    (r"result_scan", "snowflake-ml fetches the asynchronous submission's result"),
    (
        r"^DESCRIBE SERVICE IDENTIFIER",
        "snowflake-ml's MLJob.get_logs() reads the service's spec and instances",
    ),
    (r"cancel_all_queries", "Snowpark's Session.close() cancels the session's running queries"),
]


def library_reason(text: str) -> str | None:
    """Why a library sends a statement of this shape (None: not a library's own statement)."""
    return next((why for pattern, why in LIBRARY if re.search(pattern, text, re.I)), None)


def minimum(unit: str) -> int:
    return sum(count for _, count, _ in MINIMUM[unit])


_NORMALISE = [
    (re.compile(r"system\$get_service_logs\(.*", re.I | re.S), "SYSTEM$GET_SERVICE_LOGS(?)"),
    (re.compile(r"result_scan\('[^']*'\)", re.I), "result_scan(?)"),
    (re.compile(r"_snowflake_temporary/[0-9a-f]+/", re.I), "_snowflake_temporary/<id>/"),
    (re.compile(r"AIRFLOW_SNOWFLAKE_BATCH_TMP_[0-9A-F]+"), "<tmp>"),
    (re.compile(r"AIRFLOW_BATCH_[0-9A-F]+(_T\d+)?"), "<job>"),
    (re.compile(r"SNOWPARK_(?:ML_MODEL_INFERENCE_INPUT|TEMP_TABLE|TEMP_FILE_FORMAT)_\w+", re.I), "<tmp>"),
    (re.compile(r"TMP_RESULT_\w+"), "<tmp>"),
    (re.compile(r"'(?:[^']|'')*'"), "?"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "?"),
    (re.compile(r"\s+"), " "),
]
_SHAPE_LENGTH = 110


def shape(text: str, *, describe_only: bool = False) -> str:
    """A statement with its literals, numbers and generated names replaced (first 110 characters).

    >>> shape("SHOW VERSIONS LIKE 'V1' IN MODEL ML.PUBLIC.M")
    'SHOW VERSIONS LIKE ? IN MODEL ML.PUBLIC.M'
    """
    tag = " [tag]" if re.match(r"\s*SHOW\s+PARAMETERS\s+LIKE\s+'QUERY_TAG'", text, re.I) else ""
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    text = text.strip().rstrip(";").strip()
    if len(text) > _SHAPE_LENGTH:
        text = text[: _SHAPE_LENGTH - 1] + "…"
    return ("[describe] " if describe_only else "") + text + tag


@dataclass
class UnitStatements:
    unit: str
    shapes: list[str]

    @property
    def by_shape(self) -> Counter[str]:
        return Counter(self.shapes)

    @property
    def minimum(self) -> int:
        return minimum(self.unit)

    @property
    def provider_count(self) -> int:
        """The statements beyond what the libraries send on their own (see :data:`LIBRARY`)."""
        return len(self.shapes) - self.library_count

    @property
    def library_count(self) -> int:
        return len(self.shapes) - len(self.shapes_without_library_extras())

    def shapes_without_library_extras(self) -> list[str]:
        """The shapes once each library pattern's statements beyond the minimum's are taken out.

        A library statement may also be one of the minimum's (the first input describe is the check's,
        the first ``SHOW VERSIONS LIKE`` the version's), so only the surplus counts as the library's.
        """
        kept = list(self.shapes)
        minimum_of = {
            r"^\[describe\]": sum(c for what, c, _ in MINIMUM[self.unit] if what.startswith("describe")),
            r"^SHOW VERSIONS LIKE": sum(
                c for what, c, _ in MINIMUM[self.unit] if what.startswith("SHOW VERSIONS LIKE")
            ),
        }
        for pattern, _ in LIBRARY:
            matching = [text for text in kept if re.search(pattern, text, re.I)]
            surplus = len(matching) - minimum_of.get(pattern, 0)
            for text in matching[: max(surplus, 0)]:
                kept.remove(text)
        return kept


def _context(task_id: str, try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="round_trips",
        task_id=task_id,
        run_id="manual__" + DAY,
        map_index=-1,
        try_number=try_number,
        xcom_push=lambda **kwargs: None,
    )
    return {"ti": ti}


def seed(account: EmulatedAccount, rows: int = 12) -> None:
    """The example DAGs' objects (``scripts/demo_data.py``'s data and model) in :data:`SCHEMA`: features,
    ``CHURN_RISK`` V1, the output stage."""
    from e2e.repo import script_module

    demo_data = script_module("demo_data")
    features = demo_data.customer_features([DAY], [rows])
    account.write_table(f"{SCHEMA}.CUSTOMER_FEATURES", features)
    account.log_model(
        demo_data.train_churn_model(),
        model_name=MODEL,
        version_name="V1",
        sample_input_data=features[list(demo_data.FEATURE_COLUMNS)].head(20),
    )
    account.create_stage(f"{SCHEMA}.BATCH_OUTPUT", encryption="SNOWFLAKE_SSE")


def measure(account: EmulatedAccount, conn_id: str, *, timeout: float = 120.0) -> list[UnitStatements]:
    """Run each unit once on the seeded account (connection ``conn_id``); the shapes each sent, in order."""
    from airflow.exceptions import TaskDeferred

    from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
    from airflow_snowflake_batch.operators.cleanup import SnowflakeBatchInferenceCleanupOperator
    from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
    from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator
    from airflow_snowflake_batch.triggers.events import BatchJobEvent
    from airflow_snowflake_batch.triggers.status_poller import shared_settings

    measured: list[UnitStatements] = []

    def record(unit: str, work: Callable[[], Any]) -> Any:
        before = len(account.statements)
        result = work()
        sent = account.statements[before:]
        measured.append(UnitStatements(unit, [shape(q.text, describe_only=q.describe_only) for q in sent]))
        return result

    warehouse = SnowflakeWarehouseInferenceOperator(
        task_id="score_customers",
        model_name=MODEL,
        version_name="V1",
        function_name="predict",
        input_query=INPUT_QUERY,
        output_table=f"{SCHEMA}.CHURN_SCORES",
        output_partition={"SCORE_DATE": DAY},
        snowflake_conn_id=conn_id,
    )
    record("warehouse task", lambda: warehouse.execute(_context("score_customers")))

    batch = SnowflakeBatchInferenceOperator(
        task_id="score_batch",
        model_name=MODEL,
        version_name="V1",
        function_name="predict",
        input_query=INPUT_QUERY,
        compute_pool="ML_BATCH_POOL",
        output_stage_location=OUTPUT_STAGE_LOCATION,
        replicas=1,
        deferrable=True,
        snowflake_conn_id=conn_id,
    )

    def submit() -> TaskDeferred:
        try:
            batch.execute(_context("score_batch"))
        except TaskDeferred as deferred:
            return deferred
        raise AssertionError("the batch task did not defer")

    deferred = record("batch submit", submit)
    job_id = deferred.trigger.job_id

    # The triggerer's shared poller: a hook without the task's tag, its session opened by a first round.
    poller = batch.make_hook(None).__class__(
        snowflake_conn_id=conn_id, **shared_settings(batch.hook_params(None))
    )
    waiter = batch.make_hook(_context("score_batch"))
    try:
        poller.get_job_states([job_id])
        waiter.get_job_state(job_id)
        record("trigger poll", lambda: poller.get_job_states([job_id]))
        record("sync wait poll", lambda: waiter.get_job_state(job_id))
        deadline = time.monotonic() + timeout
        while not (state := waiter.get_job_state(job_id)).status.is_terminal:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not finish in {timeout} s")
            time.sleep(0.2)
    finally:
        poller.close()
        waiter.close()

    event = BatchJobEvent.from_state(state).to_dict()
    result = record(
        "batch finish",
        lambda: batch.execute_complete(_context("score_batch"), event=event, job=deferred.kwargs["job"]),
    )

    load = SnowflakeLoadBatchResultsOperator(
        task_id="load_scores",
        output_location=result["output_location"],
        target_table=f"{SCHEMA}.CHURN_SCORES_BATCH",
        output_partition={"SCORE_DATE": DAY},
        snowflake_conn_id=conn_id,
    )
    record("load", lambda: load.execute(_context("load_scores")))

    cleanup = SnowflakeBatchInferenceCleanupOperator(
        task_id="cleanup",
        output_stage_location=OUTPUT_STAGE_LOCATION,
        older_than_days=1,
        snowflake_conn_id=conn_id,
    )
    # The job is seconds old: the cleanup runs as if two days had passed.
    later = datetime.now(timezone.utc) + timedelta(days=2)

    def clean() -> None:
        with cleanup.make_hook(_context("cleanup")) as hook:
            plan = hook.plan_cleanup(
                output_stage_location=OUTPUT_STAGE_LOCATION, older_than=timedelta(days=1), now=later
            )
            if job_id not in plan.drop_jobs:
                raise AssertionError(f"the cleanup would not drop {job_id}: {plan}")
            hook.run_cleanup(plan)

    record("cleanup", clean)
    return measured


def environment() -> None:
    """Settings an Airflow process reads before it starts (the tests' conftest sets the same)."""
    import tempfile

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="round-trips-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
