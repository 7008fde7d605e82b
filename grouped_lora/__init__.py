"""Grouped CPU LoRA for vLLM, loaded as a vLLM general plugin (entry point ``vllm.general_plugins``).

vLLM runs :func:`register` in every engine and worker process before the model is built. On the CPU it
points the platform's punica wrapper at :class:`grouped_lora.punica.GroupedPunicaWrapperCPU`; on CUDA (and
any other platform) vLLM's own kernels stay. ``ADCREATIVE_LORA_KERNEL=stock`` keeps vLLM's stock CPU ops
(for side-by-side benchmarks). The engine checks after start, through :mod:`grouped_lora.worker`, that the
worker really uses the grouped wrapper, because vLLM only logs a plugin that fails to load.

The same plugin makes seeded requests work under chunked prefill on the CPU
(:mod:`grouped_lora.seeded_prefill`), so a long prompt can be prefilled in chunks instead of stalling every
decode for a whole step.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

WRAPPER_QUALNAME = "grouped_lora.punica.GroupedPunicaWrapperCPU"
KERNEL_ENV = "ADCREATIVE_LORA_KERNEL"
KERNELS = ("grouped", "stock")


def requested_kernel() -> str:
    """The LoRA kernel asked for by ``ADCREATIVE_LORA_KERNEL`` (``grouped``, the default, or ``stock``)."""
    kernel = os.environ.get(KERNEL_ENV, "grouped").strip().lower() or "grouped"
    if kernel not in KERNELS:
        raise ValueError(f"{KERNEL_ENV} must be one of {', '.join(KERNELS)}, not {kernel!r}")
    return kernel


def register() -> None:
    """vLLM general-plugin entry point: use the grouped punica wrapper on the CPU platform."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from grouped_lora import seeded_prefill

    seeded_prefill.install()
    if requested_kernel() != "grouped":
        return
    platform_class = type(current_platform)

    def get_punica_wrapper(cls: type) -> str:
        return WRAPPER_QUALNAME

    platform_class.get_punica_wrapper = classmethod(get_punica_wrapper)  # type: ignore[method-assign,assignment]
    logger.debug("grouped CPU LoRA wrapper registered")
