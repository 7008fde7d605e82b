"""The punica wrapper vLLM's CPU LoRA layers call, backed by :mod:`grouped_lora.ops`.

vLLM builds one wrapper per model (``current_platform.get_punica_wrapper()``) and calls
``update_metadata`` once per step with the step's row → adapter mapping; every LoRA layer then calls
``add_lora_linear`` (or ``add_lora_logits`` / ``add_lora_embedding``). This wrapper groups the rows by
adapter slot in ``update_metadata`` and reuses the groups in every layer of the step. It ignores vLLM's
prefill/decode flag (the CPU model runner marks every step as prefill, which sends stock decode through
per-slice Python loops with ``.item()`` syncs): grouped math is the same for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

from grouped_lora.ops import FusedWeights, RowGroup, add_fused, expand, fuse_slices, group_rows, shrink

if TYPE_CHECKING:
    from vllm.lora.layers import LoRAMapping


class GroupedPunicaWrapperCPU(PunicaWrapperCPU):
    """Grouped LoRA on the CPU: one matmul pair per active adapter, rows without an adapter skipped."""

    def __init__(
        self, max_num_batched_tokens: int, max_batches: int, device: torch.device | str, **kwargs: Any
    ):
        super().__init__(max_num_batched_tokens, max_batches, device, **kwargs)
        self.token_groups: tuple[RowGroup, ...] = ()
        self.sampler_groups: tuple[RowGroup, ...] = ()
        # Fused float32 weights per (layer, slot, LoRA id). vLLM loads an adapter into a slot in place;
        # a slot that gets another adapter gets another id, so the id keeps the cache honest.
        self._fused: dict[tuple[int, int, int], FusedWeights] = {}
        self._slot_ids: list[int | None] = []

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
        self.is_prefill = False  # unused by this wrapper; keeps the stock prefill bookkeeping out
        self.token_groups = group_rows(self.token_lora_indices.tolist())
        self.sampler_groups = group_rows(self.sampler_indices.tolist())
        self.no_lora = not self.token_groups

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
        if not self.token_groups:
            return
        fused = [
            self._fused_for(lora_a_stacked, lora_b_stacked, output_slices, g.slot) for g in self.token_groups
        ]
        add_fused(y.view(-1, y.shape[-1]), x.view(-1, x.shape[-1]), fused, scale, self.token_groups)

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

    def _fused_for(
        self,
        a_stacked: tuple[torch.Tensor, ...],
        b_stacked: tuple[torch.Tensor, ...],
        output_slices: tuple[int, ...],
        slot: int,
    ) -> FusedWeights:
        """The fused weights of one layer for the adapter now in ``slot`` (built on first use)."""
        lora_id = self._slot_ids[slot] if slot < len(self._slot_ids) else None
        key = (id(a_stacked[0]), slot, -1 if lora_id is None else lora_id)
        fused = self._fused.get(key)
        if fused is None:
            fused = fuse_slices(a_stacked, b_stacked, output_slices, slot)
            self._fused[key] = fused
        return fused
