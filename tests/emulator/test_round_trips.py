"""The statements each unit of work sends to Snowflake, pinned by shape (``benchmarks/round_trips.py``).

One run of every unit on the emulated account (the real connector, Snowpark and snowflake-ml over
HTTP): each unit must send exactly the statements below. A new round trip (a look-up made twice, a
tag set twice, a query described again) fails here; so does a cut that drops a statement the work
needs. Each statement is one of the unit's minimum (``round_trips.MINIMUM``, with its reason) or one
the libraries send on their own (``round_trips.LIBRARY``, with its reason).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

pytest.importorskip("fakesnow")

from emulator import round_trips  # noqa: E402
from emulator.fixtures import connection_json  # noqa: E402

S = round_trips.SCHEMA
TAG = {"SHOW PARAMETERS LIKE ? [tag]": 1, "alter session set query_tag = ?": 1}
CLOSE = {"select system$cancel_all_queries(None)": 1}
REGISTRY = {
    "SHOW DATABASES LIKE ?": 1,
    f"SHOW SCHEMAS LIKE ? IN DATABASE {S.split('.')[0]}": 1,
    f"SHOW MODELS LIKE ? IN SCHEMA {S}": 1,
    f"SHOW VERSIONS IN MODEL {S}.CHURN_RISK": 1,
    # Its existence, then its model spec: run() and run_batch() read the spec again, from the cache.
    f"SHOW VERSIONS LIKE ? IN MODEL {S}.CHURN_RISK": 2,
    f"SHOW FUNCTIONS IN MODEL {S}.CHURN_RISK VERSION V1": 1,
}
INPUT_DESCRIBE = "[describe] SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS FROM"
JOB_FOLDER = f"LIST @{S}.BATCH_OUTPUT/churn_risk/<job>/"
RUNS = f"{S}.AIRFLOW_SCORING_RUNS"
# rescore="if_changed": the input's fingerprint, and the output's record replaced (docs/rescoring.rst).
RECORD_WRITE = {
    f"CREATE TABLE IF NOT EXISTS {RUNS} (": 1,
    f"INSERT INTO {RUNS} (": 1,
    "SELECT HASH_AGG(*), COUNT(*) FROM (SELECT CUSTOMER_ID": 1,
}

EXPECTED: dict[str, dict[str, int]] = {
    "warehouse task": {
        **TAG,
        **REGISTRY,
        "SHOW PARAMETERS LIKE ? IN SESSION": 1,
        f"SELECT COUNT(*) FROM {S}.<tmp>": 1,
        f"CREATE TABLE IF NOT EXISTS {S}.CHURN_SCORES LIKE {S}.<tmp>": 1,
        f"SHOW COLUMNS IN TABLE {S}.CHURN_SCORES": 1,
        # The partition's record and the whole table's (an overwrite run's), in one statement.
        f"DELETE FROM {RUNS} WHERE TARGET = ? AND PARTITION_KEY IN (?, ?)": 1,
        "SHOW WAREHOUSES": 1,
        "BEGIN TRANSACTION": 1,
        f"DELETE FROM {S}.CHURN_SCORES WHERE SCORE_DATE = ?": 1,
        "COMMIT": 1,
        f"DROP TABLE IF EXISTS {S}.<tmp>": 1,
        **CLOSE,
    },
    "batch submit": {
        **TAG,
        **REGISTRY,
        f"DESCRIBE SERVICE {S}.<job>": 2,
        f"SHOW STAGES LIKE ? IN SCHEMA {S}": 1,
        JOB_FOLDER: 1,
        f"DELETE FROM {RUNS} WHERE TARGET = ? AND PARTITION_KEY IN (?)": 1,
        "select * from table(result_scan(?))": 1,
        **CLOSE,
    },
    "trigger poll": {f"SHOW JOB SERVICES IN SCHEMA {S}": 1},
    "sync wait poll": {f"DESCRIBE SERVICE {S}.<job>": 1},
    "batch finish": {
        **TAG,
        "DESCRIBE SERVICE IDENTIFIER(?)": 2,
        "SELECT SYSTEM$GET_SERVICE_LOGS(?)": 1,
        JOB_FOLDER: 1,
        # The run's cost: its run time and the pool's instance family (docs/rescoring.rst).
        "SHOW COMPUTE POOLS LIKE ?": 1,
        **CLOSE,
    },
    "load": {
        **TAG,
        JOB_FOLDER: 1,
        f"CREATE FILE FORMAT IF NOT EXISTS {S}.AIRFLOW_SNOWFLAKE_BATCH_PARQUET TYPE = PARQUET": 1,
        f"SHOW COLUMNS IN TABLE {S}.CHURN_SCORES_BATCH": 1,
        f"ALTER TABLE {S}.CHURN_SCORES_BATCH ADD COLUMN IF NOT EXISTS SCORE_DATE VARCHAR": 1,
        f"CREATE TEMPORARY TABLE {S}.<tmp> LIKE {S}.CHURN_SCORES_BATCH": 1,
        f"UPDATE {S}.<tmp> SET SCORE_DATE = ?": 1,
        f"DELETE FROM {RUNS} WHERE TARGET = ? AND PARTITION_KEY IN (?, ?)": 1,
        "BEGIN TRANSACTION": 1,
        f"DELETE FROM {S}.CHURN_SCORES_BATCH WHERE SCORE_DATE = ?": 1,
        f"INSERT INTO {S}.CHURN_SCORES_BATCH SELECT * FROM {S}.<tmp>": 1,
        "COMMIT": 1,
        f"DROP TABLE IF EXISTS {S}.<tmp>": 1,
        **CLOSE,
    },
    "cleanup": {
        **TAG,
        f"SHOW JOB SERVICES IN SCHEMA {S}": 1,
        f"LIST @{S}.BATCH_OUTPUT/churn_risk/": 1,
        f"DROP SERVICE IF EXISTS {S}.<job>": 1,
        f"REMOVE @{S}.BATCH_OUTPUT/churn_risk/<job>/": 1,
        f"REMOVE @{S}.BATCH_OUTPUT/churn_risk/_snowflake_temporary/<id>/": 1,
        **CLOSE,
    },
}
# Statements whose shape still holds long generated text: pinned by their start and count.
PREFIXES: dict[str, dict[str, int]] = {
    "warehouse task": {
        # Ours (the check) and run()'s with_columns on it: once each, not once per DataFrame built.
        INPUT_DESCRIBE: 2,
        f"CREATE TEMPORARY TABLE {S}.<tmp>(": 1,
        "[describe] WITH <tmp> AS": 1,  # run(): its input, cast to the signature
        '[describe] SELECT "CUSTOMER_ID", "TENURE_MONTHS", "MONTHLY_CHARGES", "SUPPORT_CALLS", CAST': 1,
        '[describe] SELECT "CUSTOMER_ID", "TENURE_MONTHS", "MONTHLY_CHARGES", "SUPPORT_CALLS", "output': 1,
        f"INSERT INTO {S}.CHURN_SCORES (": 1,
        "SELECT TARGET, PARTITION_KEY, FINGERPRINT, MODEL, MODEL_VERSION": 1,
        **RECORD_WRITE,
    },
    "batch submit": {
        INPUT_DESCRIBE: 1,
        "COPY INTO ? FROM (SELECT": 1,
        "EXECUTE INFERENCE JOB SERVICE": 1,
        **RECORD_WRITE,
    },
    "batch finish": {
        "SELECT CREATED_TIME, COMPLETED_TIME, COMPUTE_POOL_NAME FROM TABLE(SNOWFLAKE.SPCS.GET_JOB_HISTORY())": 1
    },
    "load": {
        f"CREATE TABLE IF NOT EXISTS {S}.CHURN_SCORES_BATCH USING TEMPLATE": 1,
        "SELECT COLUMN_NAME, TYPE FROM TABLE(INFER_SCHEMA(": 1,
        f"COPY INTO {S}.<tmp> FROM": 1,
    },
}


@pytest.fixture(scope="module")
def measured(emulated_account: Any) -> dict[str, round_trips.UnitStatements]:
    round_trips.seed(emulated_account)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_ROUND_TRIPS", connection_json(emulated_account, *S.split(".")))
        return {unit.unit: unit for unit in round_trips.measure(emulated_account, "round_trips")}


@pytest.mark.parametrize("unit", round_trips.UNITS)
def test_each_unit_sends_exactly_its_statements(measured: dict[str, Any], unit: str) -> None:
    # snowflake-ml reads the account's capabilities once per process: in the first unit of this
    # process to build a Registry, if any earlier test did not.
    sent = Counter(s for s in measured[unit].shapes if "ML_PLATFORM_CAPABILITIES" not in s)
    by_prefix = PREFIXES.get(unit, {})
    for prefix, count in by_prefix.items():
        matching = [text for text in sent if text.startswith(prefix)]
        assert sum(sent[text] for text in matching) == count, (prefix, sent)
        for text in matching:
            del sent[text]
    assert dict(sent) == EXPECTED[unit]


@pytest.mark.parametrize("unit", round_trips.UNITS)
def test_every_statement_beyond_the_minimum_is_one_the_libraries_send(
    measured: dict[str, Any], unit: str
) -> None:
    statements = measured[unit]
    # What is left once the libraries' own surplus is taken out is at most the unit's minimum...
    assert len(statements.shapes_without_library_extras()) <= statements.minimum
    # ...and every statement the libraries are said to send has its reason.
    for text in statements.shapes:
        assert round_trips.library_reason(text) or not text.startswith("[describe]")


def test_the_shape_hides_literals_and_generated_names() -> None:
    assert round_trips.shape("DROP TABLE IF EXISTS DB.SC.AIRFLOW_SNOWFLAKE_BATCH_TMP_3F69EFA73330") == (
        "DROP TABLE IF EXISTS DB.SC.<tmp>"
    )
    assert round_trips.shape("SHOW PARAMETERS LIKE 'QUERY_TAG'") == "SHOW PARAMETERS LIKE ? [tag]"
    assert round_trips.shape("SELECT 1", describe_only=True) == "[describe] SELECT ?"
