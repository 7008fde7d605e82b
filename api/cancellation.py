"""Cancel a handler's work when its client disconnects (as vLLM's OpenAI server does).

Cancelling the task propagates into ``AsyncLLM.generate``, which aborts the request in the engine, so a
client that gives up stops costing tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from core.errors import ServiceError

T = TypeVar("T")


class ClientDisconnectedError(ServiceError):
    """The client went away before the answer was ready; its work was cancelled (nginx's 499)."""

    status = 499
    code = "client_disconnected"

    def __init__(self, message: str = "client disconnected; generation cancelled"):
        super().__init__(message)


async def _wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; if the client leaves first, cancel it and raise :class:`ClientDisconnectedError`."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the handler itself was cancelled (e.g. shutdown): take the work down with it
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise ClientDisconnectedError
