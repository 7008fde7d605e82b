"""The name-finishing logits processor inside the real engine: a begun name is finished exactly.

The grammar makes the copy begin "Qzxv", and the prompt does not name the product, so no model would go
on to spell "Qzxvorpal" by itself; with the request's names the engine must finish it so.
"""

from __future__ import annotations

import json

import pytest

from creative.engine import SamplingSpec, VllmEngine

pytestmark = pytest.mark.integration

NAME = "Qzxvorpal Blade"
SCHEMA = {
    "type": "object",
    "properties": {"headline": {"type": "string", "pattern": "^Qzxv[A-Za-z ,.!-]*$", "maxLength": 40}},
    "required": ["headline"],
    "additionalProperties": False,
}


async def _headlines(engine: VllmEngine, names: tuple[str, ...]) -> list[str]:
    prompt = engine.encode_chat([{"role": "user", "content": "Write a headline for a kitchen knife."}])
    spec = SamplingSpec(
        n=4, seed=7, temperature=0.8, top_p=0.95, max_tokens=48, json_schema=SCHEMA, exact_names=names
    )
    output = await engine.generate(prompt, spec, f"names-{bool(names)}")
    return [json.loads(c.text)["headline"] for c in output.completions]


async def test_a_begun_name_is_finished_exactly(real_engine: VllmEngine) -> None:
    finished = await _headlines(real_engine, (NAME, "Qzxvorpal"))
    assert all(h.startswith("Qzxvorpal") for h in finished), finished
    unguided = await _headlines(real_engine, ())
    assert not any(h.startswith("Qzxvorpal") for h in unguided), unguided
