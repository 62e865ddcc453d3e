"""Blocking calls from a trigger, in a worker thread where the Airflow SDK may be called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

T = TypeVar("T")


async def in_thread(func: Callable[..., T], *args: Any) -> T:
    """``await asyncio.to_thread(func, *args)``, safe for Airflow SDK calls made by ``func``.

    A hook's blocking calls make SDK calls of their own: reading a connection's ``extra_dejson``
    masks its secrets, which messages the triggerer's supervisor. From a plain ``asyncio.to_thread``
    thread that message races the event loop's own on one channel and the triggerer of Airflow 3.1
    and 3.2.1 dies ("Response read out of order", apache/airflow#64620). ``sync_to_async`` threads
    route them back to the event loop.
    """

    def call() -> T:  # a plain function: sync_to_async refuses what looks like a coroutine function
        return func(*args)

    return await sync_to_async(call, thread_sensitive=False)()
