"""Admission control for generation: a bounded number run at once, a bounded number wait, the rest get 429.

vLLM batches whatever is admitted (continuous batching); this bound keeps latency and memory predictable
instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from core.errors import ServiceError


class OverloadedError(ServiceError):
    """Every generation slot and queue place is taken (429); retry after ``retry_after`` seconds."""

    status = 429
    error_type = "rate_limit_error"
    code = "overloaded"

    def __init__(self, retry_after: int):
        super().__init__("the service is at its concurrency limit; retry later")
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """When to retry."""
        return {"Retry-After": str(self.retry_after)}


class Admission:
    """At most ``max_active`` generations at once and ``max_queued`` waiting; beyond that, refuse."""

    def __init__(self, max_active: int, max_queued: int, retry_after: int):
        self.max_active = max_active
        self.max_queued = max_queued
        self.retry_after = retry_after
        self.active = 0
        self.waiting = 0
        self.on_refused: Callable[[], None] | None = None
        self._slots = asyncio.Semaphore(max_active)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one generation slot for the body of the ``async with``; :class:`OverloadedError` if full."""
        if self.active + self.waiting >= self.max_active + self.max_queued:
            if self.on_refused is not None:
                self.on_refused()
            raise OverloadedError(self.retry_after)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._slots.release()
