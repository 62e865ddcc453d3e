"""An embedded stand-in for a Snowflake account: DuckDB tables, folder stages, a local model
registry and detached batch job processes. See :class:`LocalWorkspace`.

Nothing outside this package imports it at module level: the hook loads
:class:`~airflow_snowflake_batch.backends.local.backend.LocalBackend` only for ``snowflake_batch_local``
connections. ``LocalWorkspace`` is imported on first access, so job processes
(``python -m airflow_snowflake_batch.backends.local.job_runner``) do not load DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_snowflake_batch.local.workspace import LocalWorkspace

__all__ = ["LocalWorkspace"]


def __getattr__(name: str) -> Any:
    if name == "LocalWorkspace":
        from airflow_snowflake_batch.local.workspace import LocalWorkspace

        return LocalWorkspace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
