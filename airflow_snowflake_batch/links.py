"""Extra link from a batch inference task to its job: Snowsight, or the provider's job page in Airflow.

A local job's own address is a ``file://`` folder, which the Airflow UI does not draw (it draws only
http(s), mailto and same-origin links) and a browser would open on the user's machine: the link of a
local job is the same-origin job page the provider's plugin serves (plugins/job_page.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

#: XCom key of the job's description, pushed as soon as the job is known (before waiting or deferring),
#: so the link also works while the task is deferred and after it failed.
JOB_XCOM_KEY = "snowflake_batch_job"


class SnowflakeBatchJobLink(BaseOperatorLink):
    """Link to the batch inference job the task submitted or re-attached to."""

    name = "Batch Inference Job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        job = XCom.get_value(ti_key=ti_key, key=JOB_XCOM_KEY)
        url = job.get("url", "") if isinstance(job, dict) else ""
        if not (isinstance(url, str) and url.startswith("file:")):
            return url if isinstance(url, str) else ""
        from airflow.providers.common.compat.sdk import conf

        from airflow_snowflake_batch.plugins.urls import job_page_url

        return job_page_url(
            dag_id=ti_key.dag_id,
            run_id=ti_key.run_id,
            task_id=ti_key.task_id,
            map_index=ti_key.map_index,
            base_url=conf.get("api", "base_url", fallback=""),
        )
