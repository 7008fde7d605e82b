"""LoRA adapters the server may apply: a registry by name, never a path taken from a request.

Adapters are peft folders (``adapter_config.json`` + ``adapter_model.safetensors``) with the
``adapter_card.json`` our trainer writes, read and validated by :mod:`creative.adapter_files` (size caps, no
symlinks, pydantic models). The registry loads the shipped adapters (package data: ``shipped_adapters/``)
and every adapter under the configured adapter folder (``HOME/adapters``) at start,
skipping (with a warning) any that fails its checks; more can be registered at runtime (an authorized API
call) but only while LoRA is on, only from inside the allowed folders, only when the card's base-model hash
matches the served model, only up to the engine's LoRA rank (``rank_pattern`` and the weights' shapes
included) and only when every trained module is one the engine serves LoRA on. Requests name an adapter:
``"default"`` (the setting), a registered name, or ``null`` for the base model.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from creative.adapter_files import (
    CONFIG,
    AdapterCard,
    AdapterError,
    check_served_modules,
    read_adapter_folder,
)
from creative.default_model import model_weights_sha256
from creative.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_ALIAS = "default"
SHIPPED_ADAPTERS_DIR = Path(__file__).resolve().parent / "shipped_adapters"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
SERVED_MODULES: tuple[str, ...] = Settings.model_fields["lora_target_modules"].default
__all__ = [
    "DEFAULT_ALIAS",
    "SHIPPED_ADAPTERS_DIR",
    "Adapter",
    "AdapterError",
    "AdapterRegistry",
    "registry_from_settings",
]


@dataclass(frozen=True)
class Adapter:
    """A registered adapter: what the engine needs (name, id, path) and what people want to see."""

    name: str
    int_id: int
    path: Path
    rank: int
    base_model_sha256: str | None
    card: AdapterCard | None = field(default=None, compare=False)

    def describe(self) -> dict[str, Any]:
        """Public description (no filesystem path)."""
        card = self.card
        return {
            "name": self.name,
            "rank": self.rank,
            "base_model_sha256": self.base_model_sha256,
            "voice": card.voice if card else None,
            "metrics": list(card.metrics) if card else [],
            "created": card.created if card else None,
        }


class AdapterRegistry:
    """Adapters by name, each with a stable engine id; thread-safe registration."""

    def __init__(
        self,
        base_model_sha256: str | None,
        allowed_roots: list[Path],
        max_rank: int,
        default: str | None = None,
        *,
        served_modules: Collection[str] = SERVED_MODULES,
        enabled: bool = True,
    ):
        self.base_model_sha256 = base_model_sha256
        self.allowed_roots = [root.resolve() for root in allowed_roots]
        self.max_rank = max_rank
        self.default = default
        self.served_modules = tuple(served_modules)  # the engine's lora_target_modules
        self.enabled = enabled  # False: the engine runs without LoRA, nothing can be registered
        self._adapters: dict[str, Adapter] = {}
        self._lock = threading.Lock()

    def load_folder(self, folder: Path) -> list[Adapter]:
        """Register every adapter folder directly under ``folder`` (sorted by name); one that fails its
        checks (malformed files, another base model, a symlink, ...) is skipped with a warning, never fatal
        to the server."""
        loaded: list[Adapter] = []
        try:
            children = sorted(folder.iterdir()) if folder.is_dir() else []
        except OSError as exc:
            logger.warning("adapter folder unreadable", extra={"reason": type(exc).__name__})
            return loaded
        for child in children:
            if not child.is_symlink() and not (child / CONFIG).is_file():
                continue  # not an adapter folder (a symlink is reported, never followed)
            try:
                loaded.append(self.register(child.name, child))
            except AdapterError as exc:
                logger.warning("adapter skipped", extra={"adapter": child.name, "reason": str(exc)})
        return loaded

    def register(self, name: str, path: Path) -> Adapter:
        """Check and add an adapter; re-registering a name with the same folder is a no-op."""
        if not self.enabled:
            raise AdapterError(
                "LoRA is off on this server (ADCREATIVE_ENABLE_LORA=false): no adapter can be registered",
                param="name",
                code="lora_disabled",
            )
        if not NAME_PATTERN.match(name) or name == DEFAULT_ALIAS:
            raise AdapterError(
                f"invalid adapter name {name!r}: lower-case letters, digits, - and _, not {DEFAULT_ALIAS!r}",
                param="name",
                code="invalid_adapter_name",
            )
        resolved = self._allowed_folder(path)
        files = read_adapter_folder(resolved)
        rank, base = files.rank, files.card.base_model_sha256
        if rank > self.max_rank:
            raise AdapterError(
                f"adapter rank {rank} exceeds the engine's max_lora_rank {self.max_rank}",
                param="path",
                code="rank_too_large",
            )
        check_served_modules(files, self.served_modules)
        if self.base_model_sha256 and base != self.base_model_sha256:
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
            adapter = Adapter(name, len(self._adapters) + 1, resolved, rank, base, files.card)
            self._adapters[name] = adapter
        return adapter

    def _allowed_folder(self, path: Path) -> Path:
        """The resolved folder, if it is no symlink and lies inside an allowed root."""
        try:
            given = path.expanduser()
            is_link = given.is_symlink()
            resolved = given.resolve()
        except (OSError, RuntimeError, ValueError):  # NUL bytes, loops, unreadable parents
            raise AdapterError("invalid adapter path", param="path", code="invalid_adapter") from None
        if is_link:
            raise AdapterError(
                "the adapter folder is a symlink (not followed)", param="path", code="invalid_adapter"
            )
        if not any(resolved.is_relative_to(root) for root in self.allowed_roots):
            raise AdapterError(
                "adapter path is outside the allowed adapter folders", param="path", code="path_not_allowed"
            )
        return resolved

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
    """The registry the settings describe: the shipped adapters (unless ``shipped_adapters`` is off), then
    every adapter under ``adapters_dir`` (a name already taken by a shipped one is skipped, with a warning).

    A configured default adapter that is not there falls back to the base model, with a warning.
    """
    shipped = [SHIPPED_ADAPTERS_DIR] if settings.shipped_adapters else []
    registry = AdapterRegistry(
        model_weights_sha256(settings.resolved_model_path),
        [*shipped, settings.adapters_dir, *settings.adapter_roots],
        settings.max_lora_rank,
        settings.default_adapter if settings.enable_lora else None,
        served_modules=settings.lora_target_modules,
        enabled=settings.enable_lora,
    )
    if settings.enable_lora:
        for folder in [*shipped, settings.adapters_dir]:
            registry.load_folder(folder)
    if registry.default is not None and registry.default not in registry.names():
        logger.warning(
            "default adapter not found; serving the base model", extra={"adapter": registry.default}
        )
        registry.default = None
    return registry
