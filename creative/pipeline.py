"""The one composition of the flow: write candidates, then (optionally) rank them down to ``k``.

The CLI, the API and the batch runner all call :class:`CreativePipeline`, so the flow exists once. The
ranker is anything with ``rank(request, variants, k)``; ``creative``'s core never imports ``ranking``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from core.schema import CreativeRequest, CreativeResult, Variant
from creative.writer import CreativeWriter


class VariantRanker(Protocol):
    """Orders variants for a request and keeps the best ``k``, filling ``Variant.score``."""

    def rank(self, request: CreativeRequest, variants: list[Variant], k: int) -> list[Variant]:
        """Top-``k`` variants in rank order."""
        ...


class CreativePipeline:
    """Writer + optional ranker."""

    def __init__(self, writer: CreativeWriter, ranker: VariantRanker | None = None):
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
        ranked = await asyncio.to_thread(self.ranker.rank, request, result.variants, result.k)
        timings = {**result.timings, "rank_s": round(time.perf_counter() - started, 4)}
        return result.model_copy(update={"variants": ranked, "ranked": True, "timings": timings})
