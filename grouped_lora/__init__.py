"""Grouped CPU LoRA for vLLM, loaded as a vLLM general plugin (entry point ``vllm.general_plugins``).

vLLM runs :func:`register` in every engine and worker process before the model is built. On the CPU it
points the platform's punica wrapper at :class:`grouped_lora.punica.GroupedPunicaWrapperCPU`; on CUDA (and
any other platform) vLLM's own kernels stay. A step whose rows all use one adapter runs on merged weights
(:mod:`grouped_lora.merged`, the base model's cost). ``ADCREATIVE_LORA_KERNEL`` picks the kernels for
side-by-side benchmarks: ``grouped`` (the default), ``unmerged`` (grouped, never merged) or ``stock``
(vLLM's own CPU ops). The engine checks after start, through :mod:`grouped_lora.worker`, that the
worker really uses the grouped wrapper, because vLLM only logs a plugin that fails to load.

The same plugin carries the project's other fixes to vLLM's CPU engine: seeded requests work under chunked
prefill (:mod:`grouped_lora.seeded_prefill`), RMSNorm runs on vLLM's compiled CPU kernels
(:mod:`grouped_lora.cpu_norm`) and top-p sampling needs no vocabulary sort (:mod:`grouped_lora.top_p`).
``ADCREATIVE_CPU_TUNING=stock`` leaves the last two out (side-by-side benchmarks).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

WRAPPER_QUALNAME = "grouped_lora.punica.GroupedPunicaWrapperCPU"
KERNEL_ENV = "ADCREATIVE_LORA_KERNEL"
KERNELS = ("grouped", "unmerged", "stock")
TUNING_ENV = "ADCREATIVE_CPU_TUNING"
TUNINGS = ("on", "stock")


def requested_kernel() -> str:
    """The LoRA kernels asked for (``ADCREATIVE_LORA_KERNEL``): ``grouped``, ``unmerged`` or ``stock``."""
    kernel = os.environ.get(KERNEL_ENV, "grouped").strip().lower() or "grouped"
    if kernel not in KERNELS:
        raise ValueError(f"{KERNEL_ENV} must be one of {', '.join(KERNELS)}, not {kernel!r}")
    return kernel


def requested_tuning() -> str:
    """``on`` (the default: compiled RMSNorm, sort-free top-p) or ``stock``."""
    tuning = os.environ.get(TUNING_ENV, "on").strip().lower() or "on"
    if tuning not in TUNINGS:
        raise ValueError(f"{TUNING_ENV} must be one of {', '.join(TUNINGS)}, not {tuning!r}")
    return tuning


def register() -> None:
    """vLLM general-plugin entry point: use the grouped punica wrapper on the CPU platform."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from grouped_lora import seeded_prefill

    seeded_prefill.install()
    if requested_tuning() == "on":
        from grouped_lora import cpu_norm, top_p

        if not cpu_norm.install():
            logger.warning("vLLM's CPU RMSNorm kernels are missing; RMSNorm runs on eager PyTorch")
        top_p.install()
    kernel = requested_kernel()
    if kernel == "stock":
        return
    if kernel == "grouped":
        from grouped_lora import merged

        merged.keep_base_weights()
        merged.install()
    platform_class = type(current_platform)

    def get_punica_wrapper(cls: type) -> str:
        return WRAPPER_QUALNAME

    platform_class.get_punica_wrapper = classmethod(get_punica_wrapper)  # type: ignore[method-assign,assignment]
    logger.debug("grouped CPU LoRA wrapper registered")
