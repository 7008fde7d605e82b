"""The writer renders a version with the variables it declares; a template that cannot render is a 400."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import CreativeInputError
from core.schema import CreativeRequest
from creative.settings import Settings
from creative.writer import CreativeWriter
from prompts.template import PromptTemplate
from tests.fakes import FakeEngine, json_copy

GOOD = json_copy(headline="Trail shoes that stay dry", description="Peak TrailRunner X keeps feet dry.")


def writer() -> tuple[CreativeWriter, FakeEngine]:
    engine = FakeEngine(lambda spec, call: [GOOD] * spec.n)
    return CreativeWriter(engine, Settings()), engine


def template(**fields: Any) -> PromptTemplate:
    data: dict[str, Any] = {
        "name": "gs",
        "version": 2,
        "placements": ["google_search"],
        "variables": ["product"],
        "system": "Write search ads as JSON.",
        "user": "{product}",
    }
    return PromptTemplate.model_validate({**data, **fields})


async def test_a_product_only_template_writes(sample_request: dict[str, Any]) -> None:
    w, engine = writer()
    result = await w.write(CreativeRequest.model_validate(sample_request), template=template())
    assert result.template.ref == "gs@2" and result.variants and engine.calls


async def test_a_template_that_cannot_render_is_an_input_error(sample_request: dict[str, Any]) -> None:
    broken = template().model_copy(update={"variables": ["product", "tone"]})  # skips validation
    w, engine = writer()
    with pytest.raises(CreativeInputError) as caught:
        await w.write(CreativeRequest.model_validate(sample_request), template=broken)
    assert caught.value.info.code == "template_render_failed" and caught.value.info.param == "template"
    assert "gs@2" in caught.value.info.message and engine.calls == []
