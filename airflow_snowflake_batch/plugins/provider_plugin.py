"""The provider's Airflow plugin: the local job page (a FastAPI app in the API server) and the
listener that cancels the job of a deferred task marked failed or success.

Registered through the ``airflow.plugins`` entry point and ``get_provider_info()["plugins"]``, so
installing the package is enough. Every Airflow component imports plugins: this module imports only
Airflow's plugin base class; the page (FastAPI, the hook) is imported on its first request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_snowflake_batch.plugins import listener
from airflow_snowflake_batch.plugins.urls import URL_PREFIX

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _LazyJobPageApp:
    """An ASGI app that builds the job page's FastAPI app on its first request, so components that
    load plugins but serve no pages (scheduler, triggerer, workers) never import FastAPI for it."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            from airflow_snowflake_batch.plugins.job_page import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class SnowflakeBatchPlugin(AirflowPlugin):
    """Local job page and job-cancelling listener of ``airflow-snowflake-batch``."""

    name = "snowflake_batch"
    fastapi_apps = [{"app": _LazyJobPageApp(), "url_prefix": URL_PREFIX, "name": "Snowflake batch jobs"}]
    listeners = [listener]
