from __future__ import annotations

import logging
from typing import Any

import pytest

from core.errors import CreativeInputError
from core.schema import CreativeRequest
from creative.engine import SamplingSpec
from creative.settings import Settings
from creative.writer import CreativeWriter
from tests.fakes import FakeEngine, json_copy

GOOD = json_copy(headline="Trail shoes that stay dry", description="Peak TrailRunner X keeps feet dry.")


def writer_for(script: Any, **settings: Any) -> tuple[CreativeWriter, FakeEngine]:
    engine = FakeEngine(script)
    return CreativeWriter(engine, Settings(**settings)), engine


async def test_all_good_first_try(sample_request: dict[str, Any]) -> None:
    writer, engine = writer_for(lambda spec, call: [GOOD] * spec.n)
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    assert len(result.variants) == 8
    assert all(v.valid_first_try and not v.repaired for v in result.variants)
    assert result.stats.valid_first_try == 8 and result.stats.rounds == 1
    assert [v.seed for v in result.variants] == list(range(7, 15))
    spec = engine.calls[0]
    assert spec.n == 8 and spec.seed == 7
    assert spec.json_schema is not None and spec.json_schema["properties"]["headline"]["maxLength"] == 30
    assert result.template.name == "google_search" and result.template.version == 1


async def test_cut_off_copy_is_repaired_and_flagged(sample_request: dict[str, Any]) -> None:
    cut = json_copy(
        headline="Waterproof shoes for every tra", description="Peak TrailRunner X keeps feet dry."
    )
    writer, _ = writer_for(lambda spec, call: [cut] * spec.n)
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    variant = result.variants[0]
    assert variant.fields["headline"] == "Waterproof shoes for every"
    assert variant.repaired and not variant.valid_first_try
    assert variant.repairs == ["headline: dropped cut-off word 'tra'"]


async def test_unfaithful_variants_are_regenerated_with_fresh_seeds(sample_request: dict[str, Any]) -> None:
    bad = json_copy(headline="Save 30% today", description="Peak TrailRunner X keeps feet dry.")

    def script(spec: SamplingSpec, call: int) -> list[str]:
        return [GOOD, bad, bad, GOOD, GOOD, GOOD, GOOD, GOOD] if call == 0 else [GOOD] * spec.n

    writer, engine = writer_for(script)
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    assert len(result.variants) == 8
    assert [c.n for c in engine.calls] == [8, 2]
    assert engine.calls[1].seed == 7 + 8
    assert result.stats.regenerated == 2 and result.stats.rejected == 2 and result.stats.rounds == 2
    assert result.rejected[0].reasons == ["headline: percentage '30%' is not in the product facts"]
    assert result.rejected[0].seed == 8


async def test_variants_still_failing_are_dropped_and_counted(sample_request: dict[str, Any]) -> None:
    bad = json_copy(headline="Guaranteed dry feet", description="Peak TrailRunner X keeps feet dry.")
    writer, _ = writer_for(lambda spec, call: [bad] * spec.n, max_regenerations=1)
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    assert result.variants == []
    assert result.stats.rejected == 16 and result.stats.rounds == 2
    assert "forbidden word 'guaranteed'" in result.rejected[0].reasons[0]


async def test_request_forbidden_words_and_broken_json(sample_request: dict[str, Any]) -> None:
    sample_request.update(n=2, k=1, forbidden_words=["dry"])
    writer, _ = writer_for(lambda spec, call: [GOOD, '{"headline": "Trail'], max_regenerations=0)
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    assert result.variants == []
    assert "forbidden word 'dry'" in result.rejected[0].reasons[0]
    assert result.rejected[1].reasons == ["output is not complete JSON"]


@pytest.mark.parametrize(
    ("update", "param", "code"),
    [
        ({"n": 17}, "n", "limit_exceeded"),
        ({"n": 4, "k": 5}, "k", "invalid_value"),
        ({"placement": "billboard"}, "placement", "unknown_placement"),
        ({"template": "email"}, "template", "template_mismatch"),
        ({"template": "google_search@9"}, "template", "unknown_template"),
    ],
)
async def test_limits_and_references_name_the_field(
    sample_request: dict[str, Any], update: dict[str, Any], param: str, code: str
) -> None:
    sample_request.update(update)
    writer, engine = writer_for(lambda spec, call: [GOOD] * spec.n)
    with pytest.raises(CreativeInputError) as excinfo:
        await writer.write(CreativeRequest.model_validate(sample_request))
    assert (excinfo.value.info.param, excinfo.value.info.code) == (param, code)
    assert engine.calls == []


async def test_prompt_token_limit(sample_request: dict[str, Any]) -> None:
    writer, engine = writer_for(lambda spec, call: [GOOD], max_prompt_tokens=32, max_output_tokens=64)
    with pytest.raises(CreativeInputError) as excinfo:
        await writer.write(CreativeRequest.model_validate(sample_request))
    assert excinfo.value.info.code == "prompt_too_long"
    assert engine.calls == []


async def test_defaults_come_from_settings(sample_request: dict[str, Any]) -> None:
    for key in ("n", "k", "seed"):
        sample_request.pop(key)
    writer, engine = writer_for(lambda spec, call: [GOOD] * spec.n, default_n=3, default_temperature=0.3)
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    assert len(result.variants) == 3 and result.seed is None
    assert engine.calls[0].temperature == 0.3 and engine.calls[0].seed is None


async def test_profile_and_copy_are_not_logged_by_default(
    sample_request: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="creative.writer")
    writer, _ = writer_for(lambda spec, call: [GOOD] * spec.n)
    await writer.write(CreativeRequest.model_validate(sample_request))
    record = caplog.records[-1]
    assert not hasattr(record, "profile") and not hasattr(record, "copy")
    assert "Denver" not in caplog.text and "stay dry" not in caplog.text

    caplog.clear()
    writer, _ = writer_for(lambda spec, call: [GOOD] * spec.n, log_sensitive=True)
    await writer.write(CreativeRequest.model_validate(sample_request))
    record = caplog.records[-1]
    assert record.profile["location"] == "Denver"  # type: ignore[attr-defined]


async def test_greedy_decoding_writes_one_candidate_in_one_round(sample_request: dict[str, Any]) -> None:
    sample_request.update(temperature=0.0, n=1, k=1)
    writer, engine = writer_for(lambda spec, call: ['{"headline": "x"}'] * spec.n)
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    assert result.variants == [] and len(engine.calls) == 1  # a failing greedy candidate is not retried
    sample_request.update(n=3)
    with pytest.raises(CreativeInputError, match="greedy") as excinfo:
        await writer.write(CreativeRequest.model_validate(sample_request))
    assert excinfo.value.info.param == "n"
    assert len(engine.calls) == 1
