"""Extra link from a batch inference task to its job: Snowsight, or the output folder of a local workspace."""

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
        return job.get("url", "") if isinstance(job, dict) else ""
