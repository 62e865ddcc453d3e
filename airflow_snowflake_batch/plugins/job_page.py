"""A read-only page of one task's local batch job in the Airflow API server: status, log, output files.

A local job's link is a ``file://`` address, which the Airflow UI does not draw (it draws only
http(s), mailto and same-origin links), and which a browser would open on the user's machine, not on
Airflow's. This page is the same-origin target of the task's "Batch Inference Job" extra link.

What it reads is decided by Airflow's own records, never by the address: the job is the one the task
published in XCom, the connection is the task's rendered ``snowflake_conn_id`` (with its ``database``
and ``schema``), and the workspace is that connection's. Every path the local backend opens is
confined to the workspace (``Layout.confine``), so neither a crafted job id nor a symlink leads out
of it. The user must be logged in to Airflow and may read the DAG's task logs. Everything shown is
HTML-escaped and the page runs no script (Content-Security-Policy).

Imported only when the API server serves the first request of the app (see provider_plugin.py).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse

from airflow_snowflake_batch.links import JOB_XCOM_KEY
from airflow_snowflake_batch.plugins.urls import JOB_PAGE

#: Last characters of the job log shown (the backend already keeps at most its last megabyte).
LOG_TAIL_CHARS = 200_000
#: Seconds between reloads of the page while the job is active.
REFRESH_SECONDS = 5
_HEADERS = {
    # No script, no outside resources: the page shows job output, which anyone who can run a job writes.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class JobView:
    """What the page shows."""

    job: dict[str, Any]
    conn_id: str
    status: str | None = None
    message: str = ""
    log: str = ""
    files: tuple[str, ...] = ()
    remote_url: str = ""  # a Snowflake job: its Snowsight link, shown instead of workspace content
    error: str = ""


def _access() -> Any:
    """The API server's own check: a logged-in user (token or session cookie) who may read the
    DAG's task logs (``dag_id`` from the query)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return requires_access_dag("GET", DagAccessEntity.TASK_LOGS)


def create_app() -> FastAPI:
    app = FastAPI(title="Snowflake Batch Inference jobs", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(JOB_PAGE, response_class=HTMLResponse, dependencies=[Depends(_access())])
    def job_page(
        dag_id: str = Query(..., max_length=250),
        run_id: str = Query(..., max_length=250),
        task_id: str = Query(..., max_length=250),
        map_index: int = Query(-1),
    ) -> HTMLResponse:
        job, rendered = _task_records(dag_id, run_id, task_id, map_index)
        if job is None:
            raise HTTPException(404, f"Task {dag_id}.{task_id} of run {run_id} has published no batch job.")
        view = read_job(job, rendered)
        title = f"{dag_id} / {run_id} / {task_id}" + (f" [{map_index}]" if map_index >= 0 else "")
        return HTMLResponse(render(view, title=title), headers=_HEADERS)

    return app


def _task_records(
    dag_id: str, run_id: str, task_id: str, map_index: int
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The job the task published (XCom) and the task's rendered template fields."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rtif
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.execute(
            select(XComModel.value).where(
                XComModel.key == JOB_XCOM_KEY,
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.map_index == map_index,
            )
        ).first()
        rendered = session.scalar(
            select(Rtif.rendered_fields).where(
                Rtif.dag_id == dag_id,
                Rtif.run_id == run_id,
                Rtif.task_id == task_id,
                Rtif.map_index == map_index,
            )
        )
    job = XComModel.deserialize_value(row) if row is not None else None
    return (job if isinstance(job, dict) and job.get("job_id") else None), dict(rendered or {})


def read_job(job: dict[str, Any], rendered: dict[str, Any]) -> JobView:
    """Read the job through the hook of the task's connection; a Snowflake job only gets its link."""
    from airflow_snowflake_batch.hooks.batch_inference import LOCAL_CONN_TYPE, SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.utils.connection import DEFAULT_CONN_ID

    conn_id = str(rendered.get("snowflake_conn_id") or DEFAULT_CONN_ID)
    params = {
        k: rendered[k] for k in ("database", "schema") if isinstance(rendered.get(k), str) and rendered[k]
    }
    url = str(job.get("url") or "")
    try:
        hook = SnowflakeBatchInferenceHook(snowflake_conn_id=conn_id, **params)
        if hook.get_connection(conn_id).conn_type != LOCAL_CONN_TYPE:
            return JobView(job=job, conn_id=conn_id, remote_url=url)
        with hook:
            state = hook.find_job(str(job["job_id"]))
            log = hook.get_job_logs(str(job["job_id"])) if state is not None else ""
            files = tuple(hook.list_files(str(job["output_location"]))) if job.get("output_location") else ()
    except Exception as exc:  # shown on the page: the reader of a failed job wants to know why
        return JobView(job=job, conn_id=conn_id, error=f"{type(exc).__name__}: {exc}")
    return JobView(
        job=job,
        conn_id=conn_id,
        status=state.status.value if state else None,
        message=(state.message or "") if state else "This job does not exist (any more) in the workspace.",
        log=log[-LOG_TAIL_CHARS:],
        files=files,
    )


def render(view: JobView, *, title: str) -> str:
    """The page's HTML; every value is escaped."""
    e = html.escape
    active = view.status in {"PENDING", "RUNNING", "CANCELLING"}
    rows = [
        ("Job", str(view.job.get("job_id", ""))),
        ("Status", view.status or "unknown"),
        ("Message", view.message),
        ("Output", str(view.job.get("output_location", ""))),
        ("Connection", view.conn_id),
    ]
    body = ["<table>", *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows if v), "</table>"]
    if view.error:
        body.append(f'<p class="error">Could not read the job: {e(view.error)}</p>')
    elif view.remote_url:
        body.append(f'<p>A Snowflake job: <a href="{e(view.remote_url)}">open it in Snowsight</a>.</p>')
    else:
        body.append(f"<h2>Output files ({len(view.files)})</h2>")
        body.append(
            "<ul>" + "".join(f"<li>{e(f)}</li>" for f in view.files) + "</ul>"
            if view.files
            else "<p>None yet.</p>"
        )
        body.append("<h2>Log</h2>")
        body.append(f'<pre id="job-log">{e(view.log) or "(empty)"}</pre>')
    refresh = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if active else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"{refresh}<title>Batch job {e(str(view.job.get('job_name', '')))}</title>"
        "<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:1em}"
        "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}.error{color:#b00}</style></head>"
        f"<body><h1>Batch inference job</h1><p>{e(title)}</p>{''.join(body)}</body></html>"
    )
