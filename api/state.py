"""What the lifespan owns: the engine (started in the background) and the services built on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from creative.engine import EngineNotReadyError, TextEngine
from creative.settings import Settings
from creative.writer import CreativeWriter

logger = logging.getLogger(__name__)

EngineFactory = Callable[[Settings], TextEngine]


@dataclass
class ServiceState:
    """Engine lifecycle: ``starting`` → ``ready`` (or ``failed``) → ``stopped``."""

    settings: Settings
    status: str = "starting"
    error: str | None = None
    engine: TextEngine | None = None
    writer: CreativeWriter | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self, factory: EngineFactory) -> None:
        """Start the engine in a worker thread so the server answers (503) while it loads."""
        self._task = asyncio.create_task(self._start(factory))

    async def _start(self, factory: EngineFactory) -> None:
        try:
            engine = await asyncio.to_thread(factory, self.settings)
        except Exception as exc:
            logger.exception("engine failed to start")
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
            return
        self.engine = engine
        self.writer = CreativeWriter(engine, self.settings)
        self.status = "ready"

    async def wait_ready(self) -> None:
        """Wait for the start-up task (used by tests and the CLI-style callers)."""
        if self._task is not None:
            await self._task

    def ready_writer(self) -> CreativeWriter:
        """The writer, or :class:`EngineNotReadyError` while starting / after failure or death."""
        if self.writer is None or self.engine is None:
            detail = f": {self.error}" if self.error else ""
            raise EngineNotReadyError(f"the engine is {self.status}{detail}")
        if not self.engine.is_healthy():
            self.status = "dead"
            raise EngineNotReadyError("the engine is dead; restart the service")
        return self.writer

    async def stop(self) -> None:
        """Cancel a pending start and shut the engine down."""
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self.engine is not None:
            await asyncio.to_thread(self.engine.shutdown)
        self.status = "stopped"
