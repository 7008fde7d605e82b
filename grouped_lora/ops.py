"""Grouped LoRA math for the CPU: one matmul pair per active adapter slot, never a per-token weight copy.

vLLM's stock CPU ops (``vllm/lora/ops/torch_ops``) gather ``weights[indices]`` — a copy of the adapter's A
or B matrix for every token of every slice of every layer — then ``einsum`` over it. Here the rows of a step
are grouped by adapter slot once (:func:`group_rows`), and each layer does, per active slot and slice,
``(x[rows] @ A.T) @ B.T`` added into its output columns. Rows whose slot is -1 (no adapter) are skipped:
they get exactly the base model's output.

Weight layouts are vLLM's stacked buffers: A is ``(max_loras, 1, rank, in)`` and B is
``(max_loras, 1, out, rank)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias


@dataclass(frozen=True)
class RowGroup:
    """The rows of one step that use adapter ``slot``: a contiguous range, or explicit row indices."""

    slot: int
    start: int
    length: int
    index: torch.Tensor | None  # None when the rows are start .. start + length - 1

    def take(self, x: torch.Tensor) -> torch.Tensor:
        """The group's rows of ``x`` (a view when they are contiguous)."""
        if self.index is None:
            return x.narrow(0, self.start, self.length)
        return x.index_select(0, self.index)

    def add_into(self, y: torch.Tensor, update: torch.Tensor) -> None:
        """``y[rows] += update`` (``y`` may be a column slice of a larger output)."""
        if self.index is None:
            y.narrow(0, self.start, self.length).add_(update)
        else:
            y.index_add_(0, self.index, update)

    def write_into(self, y: torch.Tensor, value: torch.Tensor) -> None:
        """``y[rows] = value``."""
        if self.index is None:
            y.narrow(0, self.start, self.length).copy_(value)
        else:
            y.index_copy_(0, self.index, value)


def group_rows(slots: Sequence[int]) -> tuple[RowGroup, ...]:
    """Group row positions by adapter slot (slot -1, no adapter, gets no group), in first-seen order."""
    positions: dict[int, list[int]] = {}
    for row, slot in enumerate(slots):
        if slot >= 0:
            positions.setdefault(slot, []).append(row)
    groups = []
    for slot, rows in positions.items():
        start, length = rows[0], len(rows)
        contiguous = rows[-1] - start + 1 == length
        index = None if contiguous else torch.tensor(rows, dtype=torch.long)
        groups.append(RowGroup(slot, start, length, index))
    return tuple(groups)


def _weight(stacked: torch.Tensor, slot: int) -> torch.Tensor:
    """One slot's matrix out of a stacked ``(max_loras, 1, rows, cols)`` (or 3-D) buffer."""
    weight = stacked[slot]
    return weight[0] if weight.dim() == 3 else weight


def shrink(
    outputs: Sequence[torch.Tensor],
    x: torch.Tensor,
    a_stacked: Sequence[torch.Tensor],
    scale: float,
    groups: Sequence[RowGroup],
) -> None:
    """``outputs[i][rows] = x[rows] @ A_i[slot].T * scale`` for every group (other rows untouched)."""
    for group in groups:
        rows = group.take(x)
        for out, stacked in zip(outputs, a_stacked, strict=True):
            weight = _weight(stacked, group.slot)
            value = F.linear(rows.to(weight.dtype), weight)
            if scale != 1.0:
                value = value * scale
            group.write_into(out, value.to(out.dtype))


def expand(
    y: torch.Tensor,
    inputs: Sequence[torch.Tensor],
    b_stacked: Sequence[torch.Tensor],
    output_slices: Sequence[int],
    offset_start: int,
    groups: Sequence[RowGroup],
) -> None:
    """``y[rows, slice_i] += inputs[i][rows] @ B_i[slot].T`` for every group."""
    for group in groups:
        offset = offset_start
        for lora_in, stacked, size in zip(inputs, b_stacked, output_slices, strict=True):
            weight = _weight(stacked, group.slot)
            value = F.linear(group.take(lora_in).to(weight.dtype), weight)
            width = min(size, value.size(1))
            group.add_into(y.narrow(1, offset, width), value[:, :width].to(y.dtype))
            offset += size


def lora_linear(
    y: torch.Tensor,
    x: torch.Tensor,
    a_stacked: Sequence[torch.Tensor],
    b_stacked: Sequence[torch.Tensor],
    scale: float,
    output_slices: Sequence[int],
    groups: Sequence[RowGroup],
) -> None:
    """``y[rows, slice_i] += (x[rows] @ A_i.T * scale) @ B_i.T``: the whole LoRA of one (packed) linear.

    The shrink stays in the adapter's dtype (no float32 round trip) and the rows are taken once per group,
    not once per slice.
    """
    for group in groups:
        rows = group.take(x)
        offset = 0
        for a, b, size in zip(a_stacked, b_stacked, output_slices, strict=True):
            weight_a, weight_b = _weight(a, group.slot), _weight(b, group.slot)
            hidden = F.linear(rows.to(weight_a.dtype), weight_a)
            if scale != 1.0:
                hidden = hidden * scale
            value = F.linear(hidden, weight_b)
            group.add_into(y.narrow(1, offset, size), value.to(y.dtype))
            offset += size
