"""The one composition of the flow: write candidates, then (optionally) rank them down to ``k``.

The API (generation and the template editor's preview), the CLI and the batch runner all go through
:class:`CreativePipeline`, so the flow exists once. The ranker is anything with ``rank(request, variants,
k)``: a plain one (the MiniLM ranker) runs in a worker thread, a coroutine one (the batch's rank batcher,
which groups many requests' candidates per call) is awaited. ``creative``'s core never imports ``ranking``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable
from typing import Protocol, cast

from core.schema import CreativeRequest, CreativeResult, Variant
from creative.preview import PreviewResult, preview
from creative.writer import CreativeWriter
from prompts.template import PromptTemplate


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
