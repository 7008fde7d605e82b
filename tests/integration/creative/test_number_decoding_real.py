"""The fact-number step inside the real engine: digits spell only a number the product facts hold.

The grammar makes every headline state a price ("Only $" and digits), and the prompt names none, so the
model picks digits of its own; with the request's facts (price 89) the engine must write "$89".
"""

from __future__ import annotations

import json
import re

import pytest

from core.schema import Product
from creative.checks import ProductFacts
from creative.engine import SamplingSpec, VllmEngine
from creative.number_decoding import number_forms

pytestmark = pytest.mark.integration

FACTS = ProductFacts.from_product(
    Product(name="Ridge Kettle", description="A stovetop kettle.", features=["2 litres"], price=89.0)
)
SCHEMA = {
    "type": "object",
    "properties": {
        "headline": {"type": "string", "pattern": "^Only \\$[0-9]{1,6}[a-z ,.!]*$", "maxLength": 40}
    },
    "required": ["headline"],
    "additionalProperties": False,
}
# The grammar lets whitespace follow the string, and a sample may spend its last tokens there before the
# closing brace; the headline string itself is always closed, so it is read on its own.
HEADLINE = re.compile(r'^\{\s*"headline"\s*:\s*("(?:[^"\\]|\\.)*")')


async def _headlines(engine: VllmEngine, forms: dict[str, list[str]] | None) -> list[str]:
    prompt = engine.encode_chat([{"role": "user", "content": "Write a headline for a sale on kettles."}])
    spec = SamplingSpec(
        n=6, seed=5, temperature=1.0, top_p=1.0, max_tokens=64, json_schema=SCHEMA, fact_numbers=forms
    )
    output = await engine.generate(prompt, spec, f"numbers-{forms is not None}")
    found = [HEADLINE.match(c.text) for c in output.completions]
    assert all(found), [c.text for c in output.completions]
    return [json.loads(match.group(1)) for match in found if match]


async def test_digits_spell_only_the_facts_numbers(real_engine: VllmEngine) -> None:
    faithful = await _headlines(real_engine, number_forms(FACTS))
    assert all(not FACTS.unsupported(h) and h.startswith("Only $89") for h in faithful), faithful
    unguided = await _headlines(real_engine, None)
    assert any(FACTS.unsupported(h) for h in unguided), unguided
