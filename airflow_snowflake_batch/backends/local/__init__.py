"""The local backend: a workspace folder playing a Snowflake account (see
:class:`airflow_snowflake_batch.local.LocalWorkspace`, the public way to create and read one).

Its dependencies (DuckDB, psutil, cloudpickle) are the ``[local]`` extra: a production worker that runs
only on Snowflake does not install them, and importing this package without them says so.
"""

from __future__ import annotations

from importlib.util import find_spec

from airflow_snowflake_batch.exceptions import MissingExtraError

# Looked up, not imported: job processes import this package and must not pay for DuckDB.
_MISSING = [name for name in ("duckdb", "psutil", "cloudpickle") if find_spec(name) is None]
if _MISSING:
    raise MissingExtraError(
        f"The local backend (snowflake_batch_local connections, LocalWorkspace) needs "
        f"{', '.join(_MISSING)} (not installed). Install them with: pip install 'airflow-snowflake-batch[local]'",
        name=_MISSING[0],
    )
