"""What the app owns: the engine and the ranker (started in the background by the lifespan), the
pipeline built on them, the templates, the adapters, the API keys, the admission bound and the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from api.auth import KeyRing
from api.limits import Admission
from api.metrics import ServiceMetrics
from api.security import load_key_ring, warn_open_mode
from api.settings import ApiSettings
from creative.adapters import AdapterRegistry, registry_from_settings
from creative.engine import EngineNotReadyError, TextEngine
from creative.pipeline import CreativePipeline, VariantRanker
from creative.settings import Settings
from creative.writer import CreativeWriter
from experiments.learning import PolicyUpdater, UpdateRule
from experiments.store import ExperimentStore
from prompts.registry import TemplateRegistry
from prompts.sources import template_source_from_settings
from ranking.settings import RankingSettings

logger = logging.getLogger(__name__)

EngineFactory = Callable[[Settings], TextEngine]
RankerFactory = Callable[[RankingSettings], VariantRanker]


@dataclass
class ServiceState:
    """Engine lifecycle: ``starting`` → ``ready`` (or ``failed``) → ``stopped``."""

    settings: ApiSettings
    templates: TemplateRegistry
    keys: KeyRing
    admission: Admission
    metrics: ServiceMetrics
    adapters: AdapterRegistry
    experiments: ExperimentStore
    status: str = "starting"
    error: str | None = None
    engine: TextEngine | None = None
    pipeline: CreativePipeline | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _learning: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> ServiceState:
        """Everything that does not need the engine: the template registry, the experiments, keys,
        admission, metrics."""
        keys = load_key_ring(settings)  # StartupRefusedError: open by accident, or duplicate keys
        admission = Admission(
            settings.generation.max_concurrent_requests, settings.max_queued_requests, settings.retry_after_s
        )
        metrics = ServiceMetrics()
        metrics.watch(admission)
        return cls(
            settings,
            template_source_from_settings(settings.registry),
            keys,
            admission,
            metrics,
            registry_from_settings(settings.generation),
            ExperimentStore.from_url(settings.experiments.experiments_db_url),
        )

    def start(self, engine_factory: EngineFactory, ranker_factory: RankerFactory) -> None:
        """Start the engine and load the ranker in worker threads, so the server answers (503) meanwhile."""
        if not self.keys.enabled:
            warn_open_mode(self.settings)
        self.status, self.error = "starting", None
        self._task = asyncio.create_task(self._start(engine_factory, ranker_factory))
        self._learning = asyncio.create_task(self._learn_policies())

    async def _learn_policies(self) -> None:
        """Every few seconds, learn new versions of the adaptive experiments' policies that are due."""
        settings = self.settings.experiments
        updater = PolicyUpdater(UpdateRule(settings.policy_update_events, settings.policy_update_seconds))
        while True:
            await asyncio.sleep(settings.policy_check_seconds)
            try:
                updated = await asyncio.to_thread(self.experiments.update_policies, updater)
            except Exception:  # a database hiccup must not end learning for good
                logger.exception("policy update failed")
                continue
            for experiment_id, version in updated.items():
                logger.info("policy updated", extra={"experiment": experiment_id, "version": version})

    async def _start(self, engine_factory: EngineFactory, ranker_factory: RankerFactory) -> None:
        try:
            ranker = await asyncio.to_thread(ranker_factory, self.settings.ranking)
            engine = await asyncio.to_thread(engine_factory, self.settings.generation)
            try:
                await engine.verify()
            except BaseException:
                await asyncio.to_thread(engine.shutdown)
                raise
        except Exception as exc:
            logger.exception("start-up failed")
            # /health and 503 bodies show this: no exception text (paths, hosts), the log has the details
            self.status, self.error = "failed", f"start-up failed ({type(exc).__name__}); see the server log"
            return
        self.engine = engine
        self.pipeline = CreativePipeline(
            CreativeWriter(engine, self.settings.generation, self.templates, self.adapters), ranker
        )
        self.status = "ready"
        logger.info("ready", extra={"model": engine.model_name, "auth": self.keys.enabled})

    async def wait_ready(self) -> None:
        """Wait for the start-up task (used by tests and the CLI-style callers)."""
        if self._task is not None:
            await self._task

    def ready_pipeline(self) -> CreativePipeline:
        """The pipeline, or :class:`EngineNotReadyError` while starting / after failure or death."""
        if self.pipeline is None or self.engine is None:
            detail = f": {self.error}" if self.error else ""
            raise EngineNotReadyError(f"the engine is {self.status}{detail}")
        if not self.engine.is_healthy():
            self.status = "dead"
            raise EngineNotReadyError("the engine is dead; restart the service")
        return self.pipeline

    async def stop(self) -> None:
        """Stop learning, wait for a pending start and shut the engine down."""
        if self._learning is not None:
            self._learning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._learning
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self.engine is not None:
            await asyncio.to_thread(self.engine.shutdown)
        self.engine = self.pipeline = None
        self.status = "stopped"
