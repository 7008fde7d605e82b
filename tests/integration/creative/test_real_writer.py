"""The writer on the real engine and the real SmolLM2 model: every returned variant is valid and faithful."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.placements import PLACEMENTS, count_chars
from core.schema import CreativeRequest, CreativeResult
from creative.checks import ForbiddenWords, ProductFacts
from creative.engine import VllmEngine
from creative.settings import Settings
from creative.writer import CreativeWriter

pytestmark = pytest.mark.integration


def assert_all_variants_valid(
    request: CreativeRequest, result: CreativeResult, settings: Settings, require_variants: bool = True
) -> None:
    """Every returned variant fits the placement, is faithful and brand-safe; and (unless told otherwise)
    there is at least one to check: a run that rejects every candidate proves nothing."""
    if require_variants:
        assert result.variants, ("nothing to check: every candidate was rejected", result.rejected)
    placement = PLACEMENTS[request.placement]
    facts = ProductFacts.from_product(request.product)
    forbidden = ForbiddenWords.combine(settings.forbidden_words, request.forbidden_words)
    for variant in result.variants:
        assert list(variant.fields) == [f.name for f in placement.fields]
        for spec in placement.fields:
            text = variant.fields[spec.name]
            assert spec.min_chars <= count_chars(text, placement.counting) <= spec.max_chars, (
                spec.name,
                text,
            )
            assert facts.unsupported(text) == [], text
            assert forbidden.found(text) == [], text
        assert variant.valid_first_try == (variant.attempt == 0 and not variant.repaired)
    for rejected in result.rejected:
        assert rejected.reasons
    assert result.stats.returned == len(result.variants) <= (request.n or settings.default_n)


@pytest.fixture(scope="module")
def writer(real_engine: VllmEngine, engine_settings: Settings) -> CreativeWriter:
    return CreativeWriter(real_engine, engine_settings)


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
async def test_every_placement_gets_valid_faithful_copy(
    writer: CreativeWriter, sample_request: dict[str, Any], placement: str
) -> None:
    sample_request.update(placement=placement, n=4, k=2, seed=11)
    request = CreativeRequest.model_validate(sample_request)
    result = await writer.write(request)
    assert_all_variants_valid(request, result, writer.settings)
    for candidate in result.rejected:
        if "output is not complete JSON" not in candidate.reasons:
            json.loads(candidate.raw)  # the grammar only ever yields JSON unless the token limit cut it
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


async def test_concurrent_requests_are_all_served(
    writer: CreativeWriter, sample_request: dict[str, Any]
) -> None:
    requests = [
        CreativeRequest.model_validate({**sample_request, "placement": p, "n": 2, "k": 1, "seed": i})
        for i, p in enumerate(sorted(PLACEMENTS) * 2)
    ]
    results = await asyncio.gather(*(writer.write(r) for r in requests))
    for request, result in zip(requests, results, strict=True):
        assert result.placement == request.placement
        assert_all_variants_valid(request, result, writer.settings, require_variants=False)
    with_copy = sum(bool(result.variants) for result in results)
    assert with_copy >= len(results) // 2, f"only {with_copy} of {len(results)} requests returned copy"


async def test_hostile_profile_strings_stay_data(
    writer: CreativeWriter, sample_request: dict[str, Any]
) -> None:
    sample_request["profile"].update(interests=["{__class__}", "{{7*7}}"], segment="}}{product}{{")
    sample_request.update(placement="push", n=2, k=1, seed=5)
    request = CreativeRequest.model_validate(sample_request)
    result = await writer.write(request)
    assert_all_variants_valid(request, result, writer.settings)
