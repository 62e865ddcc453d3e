"""The accounts the hook talks to, behind one contract.

- :mod:`~airflow_snowflake_batch.backends.base`: the contract (:class:`InferenceBackend`) and the plain
  value objects that cross it;
- :mod:`~airflow_snowflake_batch.backends.snowflake` (with its SQL in ``snowflake_sql``): Snowpark and
  snowflake-ml on a Snowflake account;
- :mod:`~airflow_snowflake_batch.backends.local`: DuckDB tables, folder stages, a local registry and
  detached job processes in a workspace folder;
- :mod:`~airflow_snowflake_batch.backends.retry`: which errors are transient, and the one retry policy.

Backends import only the contract and the shared leaf modules (identifiers, exceptions, job status),
never the hook: the hook builds them from plain parts.
"""
