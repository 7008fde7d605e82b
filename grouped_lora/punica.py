"""The punica wrapper vLLM's CPU LoRA layers call, backed by :mod:`grouped_lora.ops`.

vLLM builds one wrapper per model (``current_platform.get_punica_wrapper()``) and calls
``update_metadata`` once per step with the step's row → adapter mapping; every LoRA layer then calls
``add_lora_linear`` (or ``add_lora_logits`` / ``add_lora_embedding``). This wrapper groups the rows by
adapter slot in ``update_metadata`` and reuses the groups in every layer of the step. It ignores vLLM's
prefill/decode flag (the CPU model runner marks every step as prefill, which sends stock decode through
per-slice Python loops with ``.item()`` syncs): grouped math is the same for both.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch
from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

from grouped_lora.merged import base_weight, merge
from grouped_lora.ops import (
    FusedWeights,
    RowGroup,
    add_fused,
    add_stacked,
    expand,
    fuse_slices,
    group_mask,
    group_rows,
    shrink,
    stack_adapters,
)

MAX_MIXES = 4  # distinct sets of adapters whose stacked weights are kept (least recently used dropped)
# Adapters whose merged weights are kept (least recently used dropped). Each costs the linear weights'
# size again (about 200 MB for the 135M model in bf16), so only the adapters that have whole steps.
MAX_MERGED = 2

if TYPE_CHECKING:
    from vllm.lora.layers import LoRAMapping


def _recent(cache: OrderedDict[Any, dict[int, Any]], key: Any, limit: int) -> dict[int, Any]:
    """The per-layer dict of ``key`` in an LRU ``cache`` of at most ``limit`` keys (created when missing)."""
    layers = cache.get(key)
    if layers is None:
        layers = cache[key] = {}
        while len(cache) > limit:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return layers


class GroupedPunicaWrapperCPU(PunicaWrapperCPU):
    """Grouped LoRA on the CPU: one matmul pair per active adapter, rows without an adapter skipped."""

    def __init__(
        self, max_num_batched_tokens: int, max_batches: int, device: torch.device | str, **kwargs: Any
    ):
        super().__init__(max_num_batched_tokens, max_batches, device, **kwargs)
        self.token_groups: tuple[RowGroup, ...] = ()
        self.sampler_groups: tuple[RowGroup, ...] = ()
        # Fused, prepacked weights per (layer, slot, LoRA id). vLLM loads an adapter into a slot in place;
        # a slot that gets another adapter gets another id, so the id keeps the cache honest.
        self._fused: dict[tuple[int, int, int], FusedWeights] = {}
        self._slot_ids: list[int | None] = []
        # Mixed steps (several adapters): stacked weights per set of (slot, LoRA id), per layer.
        self._stacked: OrderedDict[tuple[tuple[int, int], ...], dict[int, FusedWeights]] = OrderedDict()
        self._masks: dict[tuple[int, torch.dtype], torch.Tensor] = {}
        # Merged weights per (slot, LoRA id), per layer; None marks a layer that cannot merge.
        self._merged: OrderedDict[tuple[int, int], dict[int, Any]] = OrderedDict()
        self._whole_step: tuple[int, int] | None = None
        self.merged_calls = 0  # layer calls served by merged weights (for tests and benchmarks)

    def update_metadata(
        self,
        mapping: LoRAMapping,
        lora_index_to_id: list[int | None],
        max_loras: int,
        vocab_size: int,
        **kwargs: Any,
    ) -> None:
        """Index tensors as vLLM builds them, then the step's row groups (tokens and sampled rows)."""
        self._update_base_metadata(mapping, lora_index_to_id, max_loras, vocab_size)
        self._slot_ids = lora_index_to_id  # vLLM updates this list in place when it (re)fills a slot
        live = {(slot, lora_id) for slot, lora_id in enumerate(lora_index_to_id) if lora_id is not None}
        self._fused = {key: value for key, value in self._fused.items() if key[1:] in live}
        for mix in [mix for mix in self._stacked if not set(mix) <= live]:
            del self._stacked[mix]
        for key in [key for key in self._merged if key not in live]:
            del self._merged[key]
        self.is_prefill = False  # unused by this wrapper; keeps the stock prefill bookkeeping out
        self.token_groups = group_rows(self.token_lora_indices.tolist())
        self.sampler_groups = group_rows(self.sampler_indices.tolist())
        self.no_lora = not self.token_groups
        self._masks = {}
        self._whole_step = self._whole_step_adapter()

    def _whole_step_adapter(self) -> tuple[int, int] | None:
        """(slot, LoRA id) when every row of this step uses that one adapter, else None."""
        groups = self.token_groups
        if len(groups) != 1 or groups[0].index is not None or groups[0].start != 0:
            return None
        if groups[0].length != len(self.token_lora_indices):
            return None
        return groups[0].slot, self._slot_id(groups[0].slot)

    def merged_linear(self, layer: Any, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor | None:
        """``layer``'s output from merged weights when the whole step is one adapter, else None (the
        caller then runs the base layer and :meth:`add_lora_linear`)."""
        adapter = self._whole_step
        if adapter is None or x.dim() != 2 or x.shape[0] != len(self.token_lora_indices):
            return None
        layers = _recent(self._merged, adapter, MAX_MERGED)
        key = id(layer)
        if key not in layers:
            weight = base_weight(layer.base_layer)
            slot = adapter[0]
            fused = self._fused_for(layer.lora_a_stacked, layer.lora_b_stacked, layer.output_slices, slot)
            layers[key] = None if weight is None else merge(weight, fused)
        handle = layers[key]
        if handle is None:
            return None
        from vllm import _custom_ops as ops

        self.merged_calls += 1
        return ops.onednn_mm(handle, x, bias)

    def add_shrink(
        self,
        y: tuple[torch.Tensor, ...] | torch.Tensor,
        x: torch.Tensor,
        lora_a_stacked: tuple[torch.Tensor, ...],
        scale: float,
        **kwargs: Any,
    ) -> None:
        """``y[i][rows] = x[rows] @ A_i.T * scale`` per adapter group (rows without one untouched)."""
        x = x.view(-1, x.shape[-1])
        outputs = [y[i].view(-1, y[i].shape[-1]) for i in range(len(lora_a_stacked))]
        shrink(outputs, x, lora_a_stacked, scale, self.token_groups)

    def add_expand(
        self,
        y: torch.Tensor,
        x: tuple[torch.Tensor, ...] | torch.Tensor,
        lora_b_stacked: tuple[torch.Tensor, ...],
        output_slices: tuple[int, ...],
        offset_start: int = 0,
        add_inputs: bool = True,
        **kwargs: Any,
    ) -> None:
        """``y[rows, slice_i] += x[i][rows] @ B_i.T`` per adapter group."""
        if not add_inputs:  # pragma: no cover - vLLM's layers always accumulate on CPU
            raise NotImplementedError("grouped LoRA expand only accumulates (add_inputs=True)")
        flat = y.view(-1, y.shape[-1])
        inputs = [x[i] for i in range(len(lora_b_stacked))]
        expand(flat, inputs, lora_b_stacked, output_slices, offset_start, self.token_groups)

    def add_lora_embedding(
        self,
        y: torch.Tensor,
        x: torch.Tensor,
        lora_b_stacked: torch.Tensor,
        add_inputs: bool = True,
        **kwargs: Any,
    ) -> None:
        """``y[rows] += x[rows] @ B.T`` per adapter group (x: the rows' LoRA-A embeddings)."""
        flat = y.view(-1, y.shape[-1])
        expand(flat, [x], [lora_b_stacked], [flat.shape[-1]], 0, self.token_groups)

    def add_lora_linear(
        self,
        y: torch.Tensor,
        x: torch.Tensor,
        lora_a_stacked: tuple[torch.Tensor, ...],
        lora_b_stacked: tuple[torch.Tensor, ...],
        scale: float,
        output_slices: tuple[int, ...],
        *,
        buffer: tuple[torch.Tensor, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        """The LoRA of one (possibly packed: qkv, gate_up) linear layer, added into ``y`` in place."""
        groups = self.token_groups
        if not groups:
            return
        flat_y, flat_x = y.view(-1, y.shape[-1]), x.view(-1, x.shape[-1])
        if len(groups) > 1:  # a mixed step: one matmul pair for every adapter, rows masked to their own
            stacked = self._stacked_for(lora_a_stacked, lora_b_stacked, output_slices)
            add_stacked(
                flat_y, flat_x, stacked, self._mask(stacked.a.shape[0] // len(groups), stacked.a.dtype), scale
            )
            return
        fused = [self._fused_for(lora_a_stacked, lora_b_stacked, output_slices, groups[0].slot)]
        add_fused(flat_y, flat_x, fused, scale, groups)

    def add_lora_logits(
        self,
        y: torch.Tensor,
        x: torch.Tensor,
        lora_a_stacked: torch.Tensor,
        lora_b_stacked: torch.Tensor,
        scale: float,
        *,
        buffer: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        """The LoRA of ``lm_head`` on the sampled rows (grouped by their request's adapter)."""
        if not self.sampler_groups:
            return
        flat = y.view(-1, y.shape[-1])
        slices = (min(flat.shape[-1], lora_b_stacked.shape[-2]),)
        fused = [
            self._fused_for((lora_a_stacked,), (lora_b_stacked,), slices, g.slot) for g in self.sampler_groups
        ]
        add_fused(flat, x.view(-1, x.shape[-1]), fused, scale, self.sampler_groups)

    def _stacked_for(
        self,
        a_stacked: tuple[torch.Tensor, ...],
        b_stacked: tuple[torch.Tensor, ...],
        output_slices: tuple[int, ...],
    ) -> FusedWeights:
        """The stacked weights of one layer for this step's set of adapters (built on first use)."""
        mix = tuple((g.slot, self._slot_id(g.slot)) for g in self.token_groups)
        layers = _recent(self._stacked, mix, MAX_MIXES)
        stacked = layers.get(id(a_stacked[0]))
        if stacked is None:
            parts = [self._fused_for(a_stacked, b_stacked, output_slices, slot) for slot, _ in mix]
            stacked = layers[id(a_stacked[0])] = stack_adapters(parts)
        return stacked

    def _mask(self, width: int, dtype: torch.dtype) -> torch.Tensor:
        """This step's row-to-adapter mask for blocks of ``width`` columns (built once per step)."""
        mask = self._masks.get((width, dtype))
        if mask is None:
            rows = len(self.token_lora_indices)
            mask = self._masks[(width, dtype)] = group_mask(self.token_groups, rows, width, dtype)
        return mask

    def _slot_id(self, slot: int) -> int:
        """The LoRA id now in ``slot`` (-1 when vLLM reports none)."""
        lora_id = self._slot_ids[slot] if slot < len(self._slot_ids) else None
        return -1 if lora_id is None else lora_id

    def _fused_for(
        self,
        a_stacked: tuple[torch.Tensor, ...],
        b_stacked: tuple[torch.Tensor, ...],
        output_slices: tuple[int, ...],
        slot: int,
    ) -> FusedWeights:
        """The fused weights of one layer for the adapter now in ``slot`` (built on first use)."""
        key = (id(a_stacked[0]), slot, self._slot_id(slot))
        fused = self._fused.get(key)
        if fused is None:
            fused = fuse_slices(a_stacked, b_stacked, output_slices, slot)
            self._fused[key] = fused
        return fused
