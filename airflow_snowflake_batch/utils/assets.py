"""Asset events of the operators that write tables: what landed, in the event's ``extra``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import Asset

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context


def annotate_outlet_events(task: BaseOperator, context: Context, extra: dict[str, Any]) -> None:
    """Add ``extra`` to the event of every :class:`~airflow.sdk.Asset` in the task's ``outlets``.

    Airflow emits one event per outlet asset when the task succeeds; a DAG scheduled on the asset
    reads the extra from ``triggering_asset_events``. ``extra`` must be JSON-safe.
    """
    events = context.get("outlet_events")
    if events is None:
        return
    for outlet in task.outlets:
        if isinstance(outlet, Asset):
            events[outlet].extra.update(extra)
