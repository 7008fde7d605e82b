"""Template preview and the writer's template hooks (explicit template, sampling defaults, label echo)."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import CreativeInputError
from core.placements import get_placement
from core.schema import CreativeRequest
from creative.preview import field_lengths, preview
from creative.settings import Settings
from creative.writer import CreativeWriter
from prompts.store import TemplateStore
from prompts.template import PromptTemplate, SamplingDefaults
from tests.fakes import FakeEngine, json_copy

GOOD = json_copy(headline="Trail shoes that stay dry", description="Peak TrailRunner X keeps feet dry.")
WIDE = json_copy(headline="防水トレイルシューズ", description="Peak TrailRunner X keeps feet dry.")
UNFAITHFUL = json_copy(headline="Save 30% today", description="Peak TrailRunner X keeps feet dry.")


def shipped(placement: str = "google_search") -> PromptTemplate:
    return TemplateStore.from_directory().for_placement(placement)


def test_google_counts_double_width_characters_twice() -> None:
    fields = {"headline": "防水シューズ", "description": "x" * 91}
    lengths = field_lengths(fields, get_placement("google_search"))
    assert lengths["headline"].chars == 12 and lengths["headline"].within_limit
    assert lengths["description"].chars == 91 and not lengths["description"].within_limit
    assert lengths["description"].max_chars == 90


async def test_preview_reports_every_candidate_with_field_lengths(sample_request: dict[str, Any]) -> None:
    engine = FakeEngine(lambda spec, call: [GOOD, WIDE, UNFAITHFUL, "not json"][: spec.n])
    writer = CreativeWriter(engine, Settings())
    sample_request.update(n=4, k=4)
    result = await preview(writer, shipped(), CreativeRequest.model_validate(sample_request))
    assert len(engine.calls) == 1  # one round, no regeneration
    assert result.template.ref == "google_search@1" and result.template.version == 1
    assert [m.role for m in result.messages] == ["system", "user"]
    assert "TrailRunner X" in result.messages[1].content
    assert result.prompt_tokens > 0 and result.counting == "google_width"
    good, wide, unfaithful, broken = result.variants
    assert good.valid and good.valid_first_try and good.fields["headline"].chars == 25
    assert wide.fields["headline"].chars == 20 and wide.fields["headline"].within_limit
    assert not unfaithful.valid and unfaithful.reasons
    assert unfaithful.fields["headline"].text == "Save 30% today"
    assert not broken.valid and broken.fields == {} and broken.reasons == ["output is not complete JSON"]
    assert result.valid == 2


async def test_preview_of_a_draft_is_labelled_as_a_draft(sample_request: dict[str, Any]) -> None:
    draft = shipped().model_copy(update={"user": "Product:\n{product}\nFor:\n{profile}\nAnswer:"})
    writer = CreativeWriter(FakeEngine(lambda spec, call: [GOOD] * spec.n), Settings())
    result = await preview(writer, draft, CreativeRequest.model_validate(sample_request), draft=True)
    assert result.template.version is None and result.template.ref == "google_search (draft)"
    assert "For:" in result.messages[1].content


async def test_an_explicit_template_must_serve_the_placement(sample_request: dict[str, Any]) -> None:
    writer = CreativeWriter(FakeEngine(lambda spec, call: [GOOD] * spec.n), Settings())
    with pytest.raises(CreativeInputError) as caught:
        await preview(writer, shipped("push"), CreativeRequest.model_validate(sample_request))
    assert caught.value.info.param == "template"


async def test_template_sampling_defaults_sit_between_request_and_settings(
    sample_request: dict[str, Any],
) -> None:
    engine = FakeEngine(lambda spec, call: [GOOD] * spec.n)
    writer = CreativeWriter(engine, Settings(default_temperature=0.8, default_top_p=0.95))
    template = shipped().model_copy(update={"sampling": SamplingDefaults(temperature=0.3, n=5, k=2)})
    for key in ("n", "k", "temperature", "top_p"):
        sample_request.pop(key, None)
    resolved = writer.resolve(CreativeRequest.model_validate(sample_request), template)
    assert (resolved.n, resolved.k, resolved.temperature, resolved.top_p) == (5, 2, 0.3, 0.95)
    sample_request.update(n=3, temperature=1.1)
    resolved = writer.resolve(CreativeRequest.model_validate(sample_request), template)
    assert (resolved.n, resolved.k, resolved.temperature) == (3, 2, 1.1)


@pytest.mark.parametrize(
    ("ref", "label"), [(None, "production"), ("google_search", "production"), ("google_search@1", None)]
)
async def test_the_result_echoes_the_resolved_version(
    sample_request: dict[str, Any], ref: str | None, label: str | None
) -> None:
    writer = CreativeWriter(FakeEngine(lambda spec, call: [GOOD] * spec.n), Settings())
    sample_request["template"] = ref
    result = await writer.write(CreativeRequest.model_validate(sample_request))
    assert result.template.model_dump() == {
        "name": "google_search",
        "version": 1,
        "ref": "google_search@1",
        "label": label,
    }
