"""Grouped LoRA math for the CPU: one matmul pair per active adapter slot, never a per-token weight copy.

vLLM's stock CPU ops (``vllm/lora/ops/torch_ops``) gather ``weights[indices]`` — a copy of the adapter's A
or B matrix for every token of every slice of every layer — then ``einsum`` over it. Here the rows of a step
are grouped by adapter slot once (:func:`group_rows`), and each layer does, per active slot,
``(x[rows] @ A.T) @ B.T`` added into its output. Rows whose slot is -1 (no adapter) are skipped: they get
exactly the base model's output.

The slices of a packed layer (qkv: 3, gate_up: 2) are fused (:func:`fuse_slices`): their A matrices are
stacked into one ``(sum of ranks, in)`` matrix and their B matrices laid on the diagonal of one
``(sum of outputs, sum of ranks)`` matrix, so a packed layer costs two matmuls and one add per adapter,
whatever its slice count. The fused matrices are prepacked once into oneDNN matmul handles, the way vLLM
prepacks its own CPU linear layers (``create_onednn_mm``), in the adapter's dtype: measured on 2 cores, a
prepacked oneDNN call on these tiny shapes takes half the time of ``torch.nn.functional.linear`` in
float32 and a third of it in bf16. Where vLLM has no oneDNN (or it refuses the shape), float32
``linear`` is the fallback.

Weight layouts are vLLM's stacked buffers: A is ``(max_loras, 1, rank, in)`` and B is
``(max_loras, 1, out, rank)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

COMPUTE_DTYPE = torch.float32  # the fallback path's dtype (no oneDNN)
ONEDNN_CACHE_SIZE = 32  # oneDNN primitives kept per handle (one per distinct row count), as vLLM uses


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


@dataclass(frozen=True)
class FusedWeights:
    """One adapter's LoRA for one (packed) layer: ``delta = (x @ a.T) @ b.T``."""

    a: torch.Tensor  # (sum of ranks, in)
    b: torch.Tensor  # (sum of outputs, sum of ranks), block-diagonal over the slices
    a_handle: Any = None  # prepacked oneDNN matmuls, when vLLM has oneDNN
    b_handle: Any = None

    def shrink(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """``x @ a.T * scale`` in the weights' dtype (``x`` is converted when it differs)."""
        rows = x.to(self.a.dtype).contiguous()
        if self.a_handle is not None:
            from vllm import _custom_ops as ops

            hidden = ops.onednn_mm(self.a_handle, rows, None)
        else:
            hidden = F.linear(rows, self.a)
        return hidden.mul_(scale) if scale != 1.0 else hidden

    def expand(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden @ b.T``."""
        if self.b_handle is not None:
            from vllm import _custom_ops as ops

            return ops.onednn_mm(self.b_handle, hidden, None)
        return F.linear(hidden, self.b)

    def delta(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """``(x @ a.T * scale) @ b.T``."""
        return self.expand(self.shrink(x, scale))


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


def slot_matrix(stacked: torch.Tensor, slot: int) -> torch.Tensor:
    """One slot's matrix out of a stacked ``(max_loras, 1, rows, cols)`` (or 3-D) buffer."""
    weight = stacked[slot]
    return weight[0] if weight.dim() == 3 else weight


def fuse_slices(
    a_stacked: Sequence[torch.Tensor],
    b_stacked: Sequence[torch.Tensor],
    output_slices: Sequence[int],
    slot: int,
) -> FusedWeights:
    """One slot's A matrices stacked and B matrices block-diagonal: one matmul pair per layer, prepacked
    for oneDNN in the adapter's dtype when vLLM has oneDNN, else float32 for ``linear``."""
    dtype = a_stacked[0].dtype if _onednn_available() else COMPUTE_DTYPE
    a_parts = [slot_matrix(a, slot).to(dtype) for a in a_stacked]
    ranks = [part.shape[0] for part in a_parts]
    b_fused = torch.zeros(sum(output_slices), sum(ranks), dtype=dtype)
    row = col = 0
    for b, size, rank in zip(b_stacked, output_slices, ranks, strict=True):
        matrix = slot_matrix(b, slot)
        width = min(size, matrix.shape[0])  # lm_head's B may be padded past the vocabulary
        b_fused[row : row + width, col : col + rank] = matrix[:width].to(dtype)
        row, col = row + size, col + rank
    return _prepacked(torch.cat(a_parts).contiguous(), b_fused)


def stack_adapters(parts: Sequence[FusedWeights]) -> FusedWeights:
    """Several adapters' fused weights side by side (A rows stacked, B columns concatenated), so a mixed
    step does one matmul pair for all of them: ``delta = (mask * (x @ A.T)) @ B.T``."""
    a = torch.cat([part.a for part in parts]).contiguous()
    b = torch.cat([part.b for part in parts], dim=1).contiguous()
    return _prepacked(a, b)


def _prepacked(a: torch.Tensor, b: torch.Tensor) -> FusedWeights:
    """``FusedWeights`` with oneDNN handles when vLLM has oneDNN and accepts the shape, else float32."""
    if not _onednn_available():
        return FusedWeights(a.to(COMPUTE_DTYPE), b.to(COMPUTE_DTYPE))
    from vllm import _custom_ops as ops

    try:
        return FusedWeights(
            a,
            b,
            ops.create_onednn_mm(a.t(), ONEDNN_CACHE_SIZE),
            ops.create_onednn_mm(b.t(), ONEDNN_CACHE_SIZE),
        )
    except RuntimeError:  # oneDNN refuses this dtype/shape on this CPU: plain float32
        return FusedWeights(a.float(), b.float())


def group_mask(groups: Sequence[RowGroup], rows: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    """``(rows, len(groups) * width)``: ones where a row meets its own group's block, zeros elsewhere (rows
    without an adapter are all zeros, so their delta is exactly zero)."""
    mask = torch.zeros(rows, len(groups) * width, dtype=dtype)
    for position, group in enumerate(groups):
        block = mask.narrow(1, position * width, width)
        if group.index is None:
            block.narrow(0, group.start, group.length).fill_(1)
        else:
            block.index_fill_(0, group.index, 1)
    return mask


def add_stacked(
    y: torch.Tensor, x: torch.Tensor, stacked: FusedWeights, mask: torch.Tensor, scale: float
) -> None:
    """``y[:rows] += (mask * (x[:rows] @ A.T * scale)) @ B.T``: every adapter of a mixed step at once."""
    rows = mask.shape[0]
    hidden = stacked.shrink(x.narrow(0, 0, rows), scale).mul_(mask)
    delta = stacked.expand(hidden)
    y.narrow(0, 0, rows).narrow(1, 0, delta.shape[1]).add_(delta.to(y.dtype))


def _onednn_available() -> bool:
    """True when vLLM's CPU build has its oneDNN matmul (x86 and Arm builds do)."""
    try:
        from vllm import _custom_ops as ops
    except ImportError:  # pragma: no cover - vLLM is always there in the engine
        return False
    return bool(getattr(ops, "_supports_onednn", False))


def add_fused(
    y: torch.Tensor,
    x: torch.Tensor,
    fused: Sequence[FusedWeights],
    scale: float,
    groups: Sequence[RowGroup],
) -> None:
    """``y[rows] += (x[rows] @ A.T * scale) @ B.T`` per group, ``fused[i]`` being ``groups[i]``'s weights."""
    for group, weights in zip(groups, fused, strict=True):
        delta = weights.delta(group.take(x), scale)
        group.add_into(y.narrow(1, 0, delta.shape[1]), delta.to(y.dtype))


def shrink(
    outputs: Sequence[torch.Tensor],
    x: torch.Tensor,
    a_stacked: Sequence[torch.Tensor],
    scale: float,
    groups: Sequence[RowGroup],
) -> None:
    """``outputs[i][rows] = x[rows] @ A_i[slot].T * scale`` for every group (other rows untouched)."""
    for group in groups:
        rows = group.take(x).to(COMPUTE_DTYPE)
        for out, stacked in zip(outputs, a_stacked, strict=True):
            value = F.linear(rows, slot_matrix(stacked, group.slot).to(COMPUTE_DTYPE))
            if scale != 1.0:
                value.mul_(scale)
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
            weight = slot_matrix(stacked, group.slot).to(COMPUTE_DTYPE)
            value = F.linear(group.take(lora_in).to(COMPUTE_DTYPE), weight)
            width = min(size, value.size(1))
            group.add_into(y.narrow(1, offset, width), value[:, :width].to(y.dtype))
            offset += size
