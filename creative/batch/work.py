"""One row × one arm → one output record; shared by the local and the Ray runner.

The arm's pinned settings override the row's (template, adapter, n, k, seed, temperature, top_p); the row
gives the profile, product and placement. A bad row becomes an error record (one per arm), never an
exception. Finished candidates are ranked in groups: :class:`RankBatcher` gathers the requests that finish
within a short window (and while the previous group was ranking) and embeds all their candidates in one
``rank_many`` call, in a worker thread, so the event loop keeps feeding the engine meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from core.errors import CreativeInputError, validation_error_info
from core.placements import PLACEMENTS
from core.schema import CreativeRequest, CreativeResult, ErrorInfo, Variant
from creative.batch.arms import ResolvedArm
from creative.engine import EngineNotReadyError
from creative.pipeline import CreativePipeline
from creative.rows import parse_row_object
from creative.writer import CreativeWriter

logger = logging.getLogger(__name__)

RankItem = tuple[CreativeRequest, list[Variant], int]
SAMPLING_FIELDS = ("n", "k", "seed", "temperature", "top_p")


class ManyRanker(Protocol):
    """What the batch needs from a ranker (``ranking.rank.Ranker`` is one)."""

    def rank_many(self, items: Sequence[RankItem]) -> list[list[Variant]]:
        """Top-k variants of each item, in rank order, with scores."""
        ...


class BatchAbortedError(RuntimeError):
    """The engine died or ranking failed: stop the run (what is done is kept; rerunning resumes)."""


class RankingFailedError(RuntimeError):
    """The ranker failed for a whole group; no record is written, so a rerun retries those rows."""


@dataclass
class BatchPlan:
    """The arms of a run, in output order, with everything pinned."""

    arms: list[ResolvedArm]

    @property
    def names(self) -> list[str]:
        """Arm names in order."""
        return [arm.name for arm in self.arms]

    def to_json(self) -> list[dict[str, Any]]:
        """JSON form (manifest, Ray actors)."""
        return [arm.to_json() for arm in self.arms]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> BatchPlan:
        """Inverse of :meth:`to_json`."""
        return cls([ResolvedArm.from_json(item) for item in data])


def build_request(data: dict[str, Any], arm: ResolvedArm) -> CreativeRequest | ErrorInfo:
    """The row with the arm's pinned template, adapter and sampling settings applied."""
    placement = data.get("placement")
    overrides: dict[str, Any] = {"adapter": arm.adapter}
    if isinstance(placement, str) and placement in PLACEMENTS:
        pinned = arm.templates.get(placement)
        if pinned is None:
            return ErrorInfo(
                message=f"arm {arm.name!r}: its template does not serve placement {placement!r}",
                param="template",
                code="template_mismatch",
            )
        overrides["template"] = pinned
    for name in SAMPLING_FIELDS:
        value = getattr(arm.arm, name)
        if value is not None:
            overrides[name] = value
    try:
        request = CreativeRequest.model_validate({**data, **overrides})
    except ValidationError as exc:
        return validation_error_info(exc)
    return request  # the writer checks the sampling rules (greedy decoding needs n = 1) like the API's


@dataclass
class RankStats:
    """How ranking was grouped."""

    calls: int = 0
    items: int = 0
    seconds: float = 0.0


class RankBatcher:
    """Ranks many requests' candidates per ``rank_many`` call, off the event loop."""

    def __init__(self, ranker: ManyRanker, max_group: int = 64, linger_s: float = 0.2):
        self.ranker = ranker
        self.max_group = max_group
        self.linger_s = linger_s  # wait this long after the first item for more (requests finish one by one)
        self.stats = RankStats()
        self._queue: asyncio.Queue[tuple[RankItem, asyncio.Future[list[Variant]]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def rank(self, request: CreativeRequest, variants: list[Variant], k: int) -> list[Variant]:
        """Top-``k`` of ``variants``; waits for the group it joins to be ranked."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(self._queue))
        future: asyncio.Future[list[Variant]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(((request, variants, k), future))
        return await future

    async def _work(self, queue: asyncio.Queue[tuple[RankItem, asyncio.Future[list[Variant]]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await queue.get()]
            deadline = loop.time() + self.linger_s
            while len(group) < self.max_group:
                if queue.empty() and loop.time() >= deadline:
                    break
                try:
                    group.append(await asyncio.wait_for(queue.get(), max(deadline - loop.time(), 0.0)))
                except TimeoutError:
                    break
            live = [(item, future) for item, future in group if not future.done()]
            if not live:
                continue
            started = time.perf_counter()
            try:
                ranked = await asyncio.to_thread(self.ranker.rank_many, [item for item, _ in live])
            except Exception as exc:  # not the row's fault (e.g. out of memory): the run stops, resumable
                failure = RankingFailedError(f"ranking failed: {type(exc).__name__}: {exc}")
                for _, future in live:
                    if not future.done():
                        future.set_exception(failure)
                continue
            self.stats.calls += 1
            self.stats.items += len(live)
            self.stats.seconds += time.perf_counter() - started
            for (_, future), variants in zip(live, ranked, strict=True):
                if not future.done():
                    future.set_result(variants)

    async def close(self) -> None:
        """Stop the worker task."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


def _template_info(ref: str | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    name, _, version = ref.partition("@")
    return {"ref": ref, "name": name, "version": int(version)}


def _context(row: int, arm: ResolvedArm, data: dict[str, Any] | None) -> dict[str, Any]:
    placement = data.get("placement") if data else None
    known = isinstance(placement, str) and placement in PLACEMENTS
    pinned = arm.templates.get(placement) if known and isinstance(placement, str) else None
    return {
        "row": row,
        "arm": arm.name,
        "placement": placement if known else None,
        "template": _template_info(pinned),
        "adapter": arm.adapter,
        "seed": arm.arm.seed if arm.arm.seed is not None else (data or {}).get("seed"),
    }


def error_record(
    row: int, arm: ResolvedArm, error: ErrorInfo, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The record of a row × arm that produced no copy."""
    return {**_context(row, arm, data), "error": error.model_dump()}


def result_record(
    row: int, arm: ResolvedArm, request: CreativeRequest, result: CreativeResult
) -> dict[str, Any]:
    """The record of a row × arm with copy: ranked variants with scores and flags, rejected candidates,
    stats, token usage and the sampling the writer used. No wall-clock timings, so equal runs give equal
    records."""
    body = result.model_dump(mode="json", exclude={"timings", "template"})
    template = _template_info(f"{result.template.name}@{result.template.version}")
    return {
        **_context(row, arm, {"placement": request.placement, "seed": request.seed}),
        **body,
        "template": template,
    }


@dataclass
class UnitProcessor:
    """Turns (row, text, arm) into a record through the pipeline: the writer, and the rank batcher as its
    ranker (optional)."""

    writer: CreativeWriter
    batcher: RankBatcher | None = None
    pipeline: CreativePipeline = field(init=False)

    def __post_init__(self) -> None:
        self.pipeline = CreativePipeline(self.writer, self.batcher)

    async def process(self, row: int, text: str, arm: ResolvedArm) -> dict[str, Any]:
        """One record; raises only :class:`BatchAbortedError` (the engine died) or on cancellation."""
        data = parse_row_object(text)
        if isinstance(data, ErrorInfo):
            return error_record(row, arm, data)
        request = build_request(data, arm)
        if isinstance(request, ErrorInfo):
            return error_record(row, arm, request, data)
        try:
            result = await self.pipeline.run(request, f"batch-r{row}-{arm.name}")
        except CreativeInputError as exc:
            return error_record(row, arm, exc.info, data)
        except (EngineNotReadyError, RankingFailedError) as exc:
            raise BatchAbortedError(str(exc)) from exc
        except Exception as exc:  # a broken row must not stop the batch; the record says what happened
            if not self.writer.engine.is_healthy():
                raise BatchAbortedError(f"the engine died: {type(exc).__name__}") from exc
            logger.exception("row × arm failed", extra={"row": row, "arm": arm.name})
            info = ErrorInfo(
                message=f"generation failed: {type(exc).__name__}", type="server_error", code="internal"
            )
            return error_record(row, arm, info, data)
        return result_record(row, arm, request, result)
