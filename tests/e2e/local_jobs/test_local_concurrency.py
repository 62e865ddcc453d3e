"""Several processes share one workspace: DuckDB's one-writer lock is waited for, never fatal."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from airflow_snowflake_batch.backends.local import database as local_database
from airflow_snowflake_batch.backends.retry import is_transient
from airflow_snowflake_batch.identifiers import Identifier
from airflow_snowflake_batch.local import LocalWorkspace

WRITER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from airflow_snowflake_batch.local import LocalWorkspace

    print("ready", flush=True)
    ws = LocalWorkspace(sys.argv[1])  # opens the database: waits while the test holds it
    for i in range(5):
        ws.write_table("EVENTS", pd.DataFrame({"WRITER": [int(sys.argv[2])] * 10, "N": range(10)}), mode="append")
        ws.sql("SELECT count(*) FROM ML.PUBLIC.EVENTS")
    print("done", flush=True)
    """
)


@pytest.fixture
def shared(tmp_path: Path) -> LocalWorkspace:
    ws = LocalWorkspace(tmp_path / "shared")
    ws.write_table(
        "EVENTS", pd.DataFrame({"WRITER": pd.Series([], dtype="int64"), "N": pd.Series([], dtype="int64")})
    )
    return ws


def test_duckdb_lock_conflict_is_transient(shared: LocalWorkspace) -> None:
    with local_database.connect(shared.layout, Identifier("ML")):
        holder = subprocess.run(
            [
                sys.executable,
                "-c",
                "import duckdb, sys; duckdb.connect().execute('ATTACH ? AS ML', [sys.argv[1]])",
                str(shared.layout.database_file(Identifier("ML"))),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert holder.returncode != 0
    assert "Could not set lock" in holder.stderr
    # The same message, raised here, is what the retry policy looks at.
    error = duckdb.IOException(holder.stderr.strip().splitlines()[-1])
    assert is_transient(error)


def test_concurrent_writers_all_succeed(shared: LocalWorkspace) -> None:
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(shared.root), str(k)], stdout=subprocess.PIPE, text=True
        )
        for k in range(3)
    ]
    try:
        # Hold the database until every writer is about to open it (and a little longer), so the
        # writers meet a held lock and must wait for it.
        with local_database.connect(shared.layout, Identifier("ML")):
            for writer in writers:
                assert writer.stdout.readline().strip() == "ready"
            time.sleep(1.0)
        outputs = [writer.communicate(timeout=240)[0] for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    assert [w.returncode for w in writers] == [0, 0, 0], outputs
    counts = shared.sql(
        "SELECT WRITER, count(*) AS ROWS FROM ML.PUBLIC.EVENTS GROUP BY WRITER ORDER BY WRITER"
    )
    assert counts.to_dict("list") == {"WRITER": [0, 1, 2], "ROWS": [50, 50, 50]}
