"""Merged LoRA weights for steps where every row uses one adapter: LoRA at exactly the base model's cost.

A LoRA layer computes ``x @ W.T + (x @ A.T) @ B.T``; when every row of a step uses the same adapter that
is ``x @ (W + B @ A).T``, one GEMM of the base model's shape. The grouped kernels still pay two small
GEMMs, a mask and an add per layer for the adapter (on 2 cores, 240 small oneDNN calls a step: about a
quarter of a decode step). dLoRA (OSDI '24) serves the same way: merged while one adapter has the batch,
unmerged (here: grouped) when adapters or base rows mix.

vLLM drops a CPU linear layer's weight once it has prepacked it for oneDNN, so :func:`keep_base_weights`
keeps a reference to each linear weight when LoRA is enabled (the weights' size again in memory), and
:func:`merge` builds ``W + B @ A`` in float32, rounds it once to the weight's dtype and prepacks it the
way vLLM prepacks its own layers. :func:`install` routes a LoRA layer to the merged weights whenever the
punica wrapper (:class:`grouped_lora.punica.GroupedPunicaWrapperCPU`) says the whole step is one adapter.
"""

from __future__ import annotations

from typing import Any

import torch

from grouped_lora.ops import ONEDNN_CACHE_SIZE, FusedWeights

BASE_WEIGHT = "_adcreative_base_weight"
_INSTALLED = "_adcreative_merged"


def base_weight(layer: Any) -> torch.Tensor | None:
    """The weight vLLM loaded into a linear layer, kept by :func:`keep_base_weights` (else None)."""
    weight = getattr(layer, BASE_WEIGHT, None)
    return weight if isinstance(weight, torch.Tensor) else None


def merge(weight: torch.Tensor, fused: FusedWeights) -> Any:
    """A prepacked oneDNN matmul of ``weight + B @ A`` (rounded once to ``weight``'s dtype); None when
    vLLM has no oneDNN or it refuses the shape."""
    from vllm import _custom_ops as ops

    if not getattr(ops, "_supports_onednn", False):
        return None
    delta = fused.b.float() @ fused.a.float()
    merged = (weight.float() + delta[: weight.shape[0]]).to(weight.dtype)
    try:
        return ops.create_onednn_mm(merged.t(), ONEDNN_CACHE_SIZE)
    except RuntimeError:
        return None


def keep_base_weights() -> None:
    """Keep each CPU linear layer's weight after vLLM prepacks it (only when LoRA is enabled)."""
    from vllm.model_executor.layers import utils

    if getattr(utils, _INSTALLED, False):
        return
    stock = utils.dispatch_cpu_unquantized_gemm

    def dispatch_cpu_unquantized_gemm(layer: torch.nn.Module, remove_weight: bool) -> None:
        weight = getattr(layer, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.ndim == 2 and not weight.is_meta and _lora_enabled():
            setattr(layer, BASE_WEIGHT, weight.detach())
        stock(layer, remove_weight)

    utils.dispatch_cpu_unquantized_gemm = dispatch_cpu_unquantized_gemm
    setattr(utils, _INSTALLED, True)


def _lora_enabled() -> bool:
    """True when the engine being built serves LoRA."""
    from vllm.config import get_current_vllm_config_or_none

    config = get_current_vllm_config_or_none()
    # No current config (not how vLLM loads models): keep the weight (memory) rather than lose the fast path.
    return config is None or config.lora_config is not None


def install() -> None:
    """LoRA linear layers use merged weights when their punica wrapper has them for the whole step."""
    from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA

    layer_class: Any = BaseLinearLayerWithLoRA
    if getattr(layer_class, _INSTALLED, False):
        return
    stock = layer_class._apply_sync

    def _apply_sync(self: Any, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        merged_linear = getattr(self.punica_wrapper, "merged_linear", None)
        if merged_linear is not None:
            output = merged_linear(self, x, bias)
            if output is not None:
                return output
        return stock(self, x, bias)

    layer_class._apply_sync = _apply_sync
    setattr(layer_class, _INSTALLED, True)
