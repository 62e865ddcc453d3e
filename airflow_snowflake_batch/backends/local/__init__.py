"""The local backend: a workspace folder playing a Snowflake account (see
:class:`airflow_snowflake_batch.local.LocalWorkspace`, the public way to create and read one)."""
