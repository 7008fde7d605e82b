from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.schema import CreativeRequest, Variant
from creative.batch.work import BatchAbortedError, RankBatcher, RankingFailedError, RankItem
from tests.fakes import FakeEngine
from tests.unit.creative.batch.support import make_job, placement_copy, processor


class RecordingRanker:
    """Keeps the first k variants; records each rank_many call's size."""

    def __init__(self, fail: bool = False):
        self.calls: list[int] = []
        self.fail = fail

    def rank_many(self, items: Sequence[RankItem]) -> list[list[Variant]]:
        self.calls.append(len(items))
        if self.fail:
            raise RuntimeError("embedder down")
        return [variants[:k] for _, variants, k in items]


def variant(index: int) -> Variant:
    return Variant(
        index=index,
        fields={"headline": f"h{index}"},
        valid_first_try=True,
        repaired=False,
        attempt=0,
        seed=1,
        output_tokens=3,
    )


async def test_requests_finishing_one_after_another_are_ranked_together(sample_request: dict) -> None:
    ranker = RecordingRanker()
    batcher = RankBatcher(ranker, linger_s=0.5)
    request = CreativeRequest.model_validate(sample_request)

    async def finish_later(delay: float) -> list[Variant]:
        await asyncio.sleep(delay)
        return await batcher.rank(request, [variant(0), variant(1)], 1)

    results = await asyncio.gather(*(finish_later(0.02 * i) for i in range(5)))
    await batcher.close()
    assert ranker.calls == [5]
    assert all([v.index for v in result] == [0] for result in results)


async def test_a_ranking_failure_reaches_every_waiting_request(sample_request: dict) -> None:
    batcher = RankBatcher(RecordingRanker(fail=True), linger_s=0.01)
    request = CreativeRequest.model_validate(sample_request)
    outcomes = await asyncio.gather(
        *(batcher.rank(request, [variant(0)], 1) for _ in range(3)), return_exceptions=True
    )
    await batcher.close()
    assert all(isinstance(o, RankingFailedError) and "embedder down" in str(o) for o in outcomes)
    with pytest.raises(RankingFailedError):  # and the batcher keeps working for the next request
        await batcher.rank(request, [variant(0)], 1)
    await batcher.close()


async def test_a_ranking_failure_stops_the_run_instead_of_recording_an_error(
    tmp_path: Path, sample_request: dict
) -> None:
    job = make_job(tmp_path, [sample_request])
    engine = FakeEngine(placement_copy)
    unit = processor(engine, RecordingRanker(fail=True))
    with pytest.raises(BatchAbortedError, match="ranking failed: RuntimeError: embedder down"):
        await unit.process(1, json.dumps(sample_request), job.plan.arms[0])
