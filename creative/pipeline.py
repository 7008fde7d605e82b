"""The one composition of the flow: write candidates, then (optionally) rank them down to ``k``.

The API (generation and the template editor's preview), the CLI and the batch runner all go through
:class:`CreativePipeline`, so the flow exists once. The ranker is anything with ``rank(request, variants,
k)``: a plain one (the MiniLM ranker) runs in a worker thread, a coroutine one (the batch's rank batcher,
which groups many requests' candidates per call) is awaited. ``creative``'s core never imports ``ranking``.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol, cast

from core.schema import CreativeRequest, CreativeResult, Variant
from creative.preview import PreviewResult, preview
from creative.writer import CreativeWriter
from prompts.template import PromptTemplate

if TYPE_CHECKING:
    from creative.adapters import AdapterRegistry
    from creative.engine import VllmEngine
    from creative.settings import Settings
    from prompts.refs import TemplateSource


class VariantRanker(Protocol):
    """Orders variants for a request and keeps the best ``k``, filling ``Variant.score`` (blocking)."""

    def rank(self, request: CreativeRequest, variants: list[Variant], k: int) -> list[Variant]:
        """Top-``k`` variants in rank order."""
        ...


class AsyncVariantRanker(Protocol):
    """A :class:`VariantRanker` whose ``rank`` is a coroutine."""

    async def rank(self, request: CreativeRequest, variants: list[Variant], k: int) -> list[Variant]:
        """Top-``k`` variants in rank order."""
        ...


AnyRanker = VariantRanker | AsyncVariantRanker


class CreativePipeline:
    """Writer + optional ranker."""

    def __init__(self, writer: CreativeWriter, ranker: AnyRanker | None = None):
        self.writer = writer
        self.ranker = ranker

    async def run(
        self, request: CreativeRequest, request_id: str | None = None, *, rank: bool = True
    ) -> CreativeResult:
        """Write ``n`` candidates; with a ranker (and ``rank``), return the top ``k`` with scores."""
        result = await self.writer.write(request, request_id)
        if self.ranker is None or not rank:
            return result
        started = time.perf_counter()
        ranked = await self._rank(self.ranker, request, result.variants, result.k)
        timings = {**result.timings, "rank_s": round(time.perf_counter() - started, 4)}
        return result.model_copy(update={"variants": ranked, "ranked": True, "timings": timings})

    async def preview(
        self,
        template: PromptTemplate,
        request: CreativeRequest,
        *,
        draft: bool = False,
        request_id: str | None = None,
    ) -> PreviewResult:
        """One round of ``template`` (saved or a draft) on ``request``: every candidate with its field
        lengths, no regeneration and no ranking (the template editor's preview)."""
        return await preview(self.writer, template, request, draft=draft, request_id=request_id)

    @staticmethod
    async def _rank(
        ranker: AnyRanker, request: CreativeRequest, variants: list[Variant], k: int
    ) -> list[Variant]:
        if inspect.iscoroutinefunction(ranker.rank):
            return await cast(Awaitable[list[Variant]], ranker.rank(request, variants, k))
        return cast(list[Variant], await asyncio.to_thread(ranker.rank, request, variants, k))


def open_pipeline(
    settings: Settings,
    templates: TemplateSource | None = None,
    adapters: AdapterRegistry | None = None,
    ranker: AnyRanker | None = None,
) -> tuple[CreativePipeline, VllmEngine]:
    """Start the engine and build the pipeline: the composition root of the CLI and the batch (the API's
    lifespan builds the same pieces). ``templates`` / ``adapters`` default to the configured registry and
    adapters, opened here. The caller shuts the engine down."""
    from creative.adapters import registry_from_settings
    from creative.default_model import ensure_default_model
    from creative.engine import VllmEngine
    from prompts.sources import template_source_from_settings

    ensure_default_model(settings)
    print(f"starting the engine ({settings.resolved_model_path.name})…", file=sys.stderr, flush=True)
    engine = VllmEngine.start(settings)
    print(f"engine ready in {engine.started_in:.1f} s", file=sys.stderr, flush=True)
    try:
        writer = CreativeWriter(
            engine,
            settings,
            templates if templates is not None else template_source_from_settings(),
            adapters if adapters is not None else registry_from_settings(settings),
        )
    except BaseException:
        engine.shutdown()
        raise
    return CreativePipeline(writer, ranker), engine
