"""Where the provider's pages live in the Airflow API server (kept import-free: links.py uses it)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

#: Mount point of the provider's FastAPI app in the API server (see plugins/provider_plugin.py).
URL_PREFIX = "/snowflake-batch"
JOB_PAGE = "/job"


def job_page_url(
    *, dag_id: str, run_id: str, task_id: str, map_index: int = -1, base_url: str | None = None
) -> str:
    """The same-origin address of the local job page of one task instance.

    A path, not an absolute URL: the UI draws same-origin links, and a path stays right whatever
    host name users reach Airflow by. ``base_url`` (``[api] base_url``) contributes only its path,
    for an Airflow served below a prefix (``https://host/airflow``).
    """
    prefix = urlsplit(base_url or "").path.rstrip("/")
    query = urlencode({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index})
    return f"{prefix}{URL_PREFIX}{JOB_PAGE}?{query}"
