"""Names shared across the provider, defined once.

A leaf module: it imports nothing from the package (``tests/unit/test_import_graph.py`` checks it),
so DAG files, the hook, the backends and the operators can all read these without importing each other.
"""

from __future__ import annotations

#: The default ``snowflake_conn_id`` of every operator, the sensor and the hook (the Snowflake provider's).
DEFAULT_CONN_ID = "snowflake_default"

#: The connection type of a local workspace (the ``snowflake`` type belongs to the Snowflake provider).
LOCAL_CONN_TYPE = "snowflake_batch_local"

#: The empty file a batch job writes in its output folder when it has written every result file.
SUCCESS_FILE = "_SUCCESS"

#: The OpenLineage namespace of a local workspace's datasets (Snowflake's is ``snowflake://<account>``).
LOCAL_NAMESPACE = "snowflake://local"

#: The start of every default job name; what the cleanup operator removes unless told otherwise.
DEFAULT_JOB_PREFIX = "AIRFLOW_BATCH_"
