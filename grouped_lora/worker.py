"""A vLLM worker extension (``worker_extension_cls``) the engine asks which punica wrappers are live."""

from __future__ import annotations

from typing import Any


class LoraWrapperProbe:
    """Mixed into vLLM's worker class; ``collective_rpc("lora_wrapper_names")`` reaches it."""

    def lora_wrapper_names(self) -> list[str]:
        """Qualified class names of the worker's punica wrappers (empty when LoRA is off)."""
        runner: Any = getattr(self, "model_runner", None)
        manager = getattr(getattr(runner, "lora_manager", None), "_adapter_manager", None)
        mapping = getattr(manager, "punica_wrapper_mapping", None) or {}
        return sorted({f"{type(w).__module__}.{type(w).__qualname__}" for w in mapping.values()})

    def lora_merged_calls(self) -> int:
        """LoRA layer calls this worker ran on merged adapter weights (a whole step of one adapter)."""
        runner: Any = getattr(self, "model_runner", None)
        manager = getattr(getattr(runner, "lora_manager", None), "_adapter_manager", None)
        mapping = getattr(manager, "punica_wrapper_mapping", None) or {}
        return sum(getattr(wrapper, "merged_calls", 0) for wrapper in mapping.values())
