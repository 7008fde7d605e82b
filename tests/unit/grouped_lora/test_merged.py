"""Merged LoRA weights: used exactly when a whole step is one adapter, and equal to base + LoRA."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from vllm.lora.layers.utils import LoRAMapping

import grouped_lora.ops as grouped_ops
from grouped_lora import merged as merged_module
from grouped_lora.merged import BASE_WEIGHT, merge
from grouped_lora.ops import fuse_slices
from grouped_lora.punica import MAX_MERGED, GroupedPunicaWrapperCPU

MAX_LORAS = 4
RANK = 8
HIDDEN = 64
SLICES = (32, 16, 16)
LORA_IDS: list[int | None] = [11, 12, 13, 14]

needs_onednn = pytest.mark.skipif(
    not grouped_ops._onednn_available(), reason="this vLLM build has no oneDNN (merging needs it)"
)


def lora_layer(seed: int) -> SimpleNamespace:
    """A stand-in for vLLM's packed LoRA linear layer: base weight kept, stacked A/B per slot."""
    generator = torch.Generator().manual_seed(seed)
    a = tuple(torch.randn(MAX_LORAS, 1, RANK, HIDDEN, generator=generator) for _ in SLICES)
    b = tuple(torch.randn(MAX_LORAS, 1, size, RANK, generator=generator) for size in SLICES)
    base = SimpleNamespace(**{BASE_WEIGHT: torch.randn(sum(SLICES), HIDDEN, generator=generator)})
    return SimpleNamespace(base_layer=base, lora_a_stacked=a, lora_b_stacked=b, output_slices=SLICES)


def wrapper(slots: list[int], lora_ids: list[int | None] = LORA_IDS) -> GroupedPunicaWrapperCPU:
    ids = [lora_ids[s] or 0 if s >= 0 else 0 for s in slots]
    punica = GroupedPunicaWrapperCPU(256, 64, "cpu")
    punica.update_metadata(
        LoRAMapping(tuple(ids), tuple(ids), is_prefill=True), lora_ids, MAX_LORAS + 1, 1000
    )
    return punica


def base_plus_lora(layer: SimpleNamespace, x: torch.Tensor, slot: int) -> torch.Tensor:
    """``x @ W.T`` plus the slot's LoRA of every slice, in float64."""
    out = x.double() @ getattr(layer.base_layer, BASE_WEIGHT).double().T
    offset = 0
    for a, b, size in zip(layer.lora_a_stacked, layer.lora_b_stacked, SLICES, strict=True):
        out[:, offset : offset + size] += x.double() @ a[slot, 0].double().T @ b[slot, 0].double().T
        offset += size
    return out


@needs_onednn
@pytest.mark.parametrize("slot", [0, 2])
def test_a_step_of_one_adapter_runs_on_merged_weights_equal_to_base_plus_lora(slot: int) -> None:
    layer = lora_layer(seed=slot)
    x = torch.randn(5, HIDDEN)
    punica = wrapper([slot] * 5)
    out = punica.merged_linear(layer, x, None)
    assert out is not None
    assert punica.merged_calls == 1
    torch.testing.assert_close(out.double(), base_plus_lora(layer, x, slot), rtol=1e-4, atol=1e-3)


@needs_onednn
@pytest.mark.parametrize(
    "slots", [[1, 1, -1, 1], [0, 1, 0, 1], [-1, -1]], ids=["base-rows", "two-adapters", "no-adapter"]
)
def test_mixed_steps_and_base_rows_never_use_merged_weights(slots: list[int]) -> None:
    punica = wrapper(slots)
    assert punica.merged_linear(lora_layer(seed=1), torch.randn(len(slots), HIDDEN), None) is None
    assert punica.merged_calls == 0


@needs_onednn
def test_a_layer_without_its_base_weight_falls_back_to_the_grouped_path() -> None:
    layer = lora_layer(seed=3)
    delattr(layer.base_layer, BASE_WEIGHT)
    assert wrapper([0, 0]).merged_linear(layer, torch.randn(2, HIDDEN), None) is None


@needs_onednn
def test_a_slot_refilled_with_another_adapter_is_merged_again() -> None:
    layer = lora_layer(seed=4)
    x = torch.randn(3, HIDDEN)
    punica = wrapper([0, 0, 0])
    punica.merged_linear(layer, x, None)
    for stacked in (*layer.lora_a_stacked, *layer.lora_b_stacked):
        stacked[0].normal_()  # vLLM copies the new adapter into slot 0 in place, under a new id
    ids = [21, 21, 21]
    punica.update_metadata(
        LoRAMapping(tuple(ids), tuple(ids), is_prefill=True), [21, *LORA_IDS[1:]], MAX_LORAS + 1, 1000
    )
    out = punica.merged_linear(layer, x, None)
    assert out is not None
    torch.testing.assert_close(out.double(), base_plus_lora(layer, x, 0), rtol=1e-4, atol=1e-3)


@needs_onednn
def test_only_the_most_recent_adapters_keep_merged_weights() -> None:
    layer = lora_layer(seed=5)
    punica = wrapper([0])
    for slot in range(MAX_LORAS):
        ids = (LORA_IDS[slot] or 0,)
        punica.update_metadata(LoRAMapping(ids, ids, is_prefill=True), LORA_IDS, MAX_LORAS + 1, 1000)
        punica.merged_linear(layer, torch.randn(1, HIDDEN), None)
    assert list(punica._merged) == [(slot, LORA_IDS[slot]) for slot in range(MAX_LORAS)][-MAX_MERGED:]


def test_merge_rounds_once_to_the_weight_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    """W + B @ A is summed in float32 and rounded once; the handle gets the merged matrix."""
    from vllm import _custom_ops as ops

    seen: list[torch.Tensor] = []
    monkeypatch.setattr(ops, "_supports_onednn", True, raising=False)

    def create_onednn_mm(w_t: torch.Tensor, cache: object) -> str:
        seen.append(w_t.t())
        return "handle"

    monkeypatch.setattr(ops, "create_onednn_mm", create_onednn_mm)
    monkeypatch.setattr(grouped_ops, "_onednn_available", lambda: False)  # fused weights in float32
    layer = lora_layer(seed=6)
    weight = getattr(layer.base_layer, BASE_WEIGHT).to(torch.bfloat16)
    fused = fuse_slices(layer.lora_a_stacked, layer.lora_b_stacked, SLICES, 1)
    assert merge(weight, fused) == "handle"
    expected = (weight.float() + fused.b @ fused.a).to(torch.bfloat16)
    assert seen[0].dtype == torch.bfloat16
    assert torch.equal(seen[0], expected)


def test_base_weights_are_kept_only_when_lora_is_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from vllm.model_executor.layers import utils

    dropped = []

    def stock(layer: torch.nn.Module, remove_weight: bool) -> None:  # vLLM's: prepack, drop the weight
        dropped.append(layer)
        layer.weight = torch.nn.Parameter(torch.empty(0), requires_grad=False)

    monkeypatch.setattr(utils, "dispatch_cpu_unquantized_gemm", stock)
    monkeypatch.delattr(utils, merged_module._INSTALLED, raising=False)
    merged_module.keep_base_weights()
    for enabled in (True, False):
        monkeypatch.setattr(merged_module, "_lora_enabled", lambda enabled=enabled: enabled)
        layer = torch.nn.Linear(HIDDEN, 8, bias=False)
        weight = layer.weight.detach().clone()
        utils.dispatch_cpu_unquantized_gemm(layer, True)
        kept = merged_module.base_weight(layer)
        assert (kept is not None and torch.equal(kept, weight)) == enabled
    assert len(dropped) == 2
