"""Shared helpers of the adapter tests: small valid LoRA folders and the ways a folder can be broken."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from creative.adapters import AdapterRegistry
from creative.default_model import model_weights_sha256
from creative.settings import Settings

BASE = "a" * 64


def make_adapter(
    folder: Path, rank: int = 8, base: str | None = BASE, modules: tuple[str, ...] = ("q_proj", "v_proj")
) -> Path:
    """A small, valid peft LoRA folder (config, weights named as peft names them, card)."""
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "target_modules": list(modules)}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    prefix = "base_model.model.model.layers.0.self_attn"
    tensors = {}
    for module in modules:
        tensors[f"{prefix}.{module}.lora_A.weight"] = torch.zeros(rank, 4)
        tensors[f"{prefix}.{module}.lora_B.weight"] = torch.zeros(4, rank)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    card = {"voice": "playful", "metrics": [{"epoch": 1, "validation_loss": 1.0}]}
    if base:
        card["base_model_sha256"] = base
    (folder / "adapter_card.json").write_text(json.dumps(card))
    return folder


def registry(root: Path, default: str | None = None) -> AdapterRegistry:
    return AdapterRegistry(BASE, [root], max_rank=16, default=default)


CONFIG, CARD, WEIGHTS = "adapter_config.json", "adapter_card.json", "adapter_model.safetensors"


def served_base() -> str:
    """The served model's weights hash (what cards must carry), or any hash when the model is not prepared."""
    return model_weights_sha256(Settings().resolved_model_path) or BASE


def edit_json(name: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return apply


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    data = text.encode() if isinstance(text, str) else text

    def apply(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return apply


def symlinked(name: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        real = folder.parent / f"real-{name}"
        (folder / name).rename(real)
        (folder / name).symlink_to(real)

    return apply


def weights(tensors: dict[str, torch.Tensor]) -> Callable[[Path], None]:
    return lambda folder: save_file(tensors, str(folder / WEIGHTS))


LAYER = "base_model.model.model.layers.0"
MALFORMED: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # case: (how the folder is broken, error code, text the message must contain)
    "config bad JSON": (write(CONFIG, "{not json"), "invalid_adapter", CONFIG),
    "config bad UTF-8": (write(CONFIG, b'{"r": "\xff"}'), "invalid_adapter", CONFIG),
    "config nested 20k deep": (write(CONFIG, "[" * 20_000), "invalid_adapter", CONFIG),
    "config a list": (write(CONFIG, "[1, 2]"), "invalid_adapter", CONFIG),
    "config r a string": (edit_json(CONFIG, lambda c: {**c, "r": "x"}), "invalid_adapter", "r:"),
    "config r zero": (edit_json(CONFIG, lambda c: {**c, "r": 0}), "invalid_adapter", "r:"),
    "config not LoRA": (
        edit_json(CONFIG, lambda c: {**c, "peft_type": "IA3"}),
        "invalid_adapter",
        "peft_type",
    ),
    "config rank_pattern type": (
        edit_json(CONFIG, lambda c: {**c, "rank_pattern": {"q_proj": "x"}}),
        "invalid_adapter",
        "rank_pattern",
    ),
    "config rank_pattern too large": (
        edit_json(CONFIG, lambda c: {**c, "rank_pattern": {"q_proj": 64}}),
        "rank_too_large",
        "64",
    ),
    "config modules_to_save": (
        edit_json(CONFIG, lambda c: {**c, "modules_to_save": ["lm_head"]}),
        "invalid_adapter",
        "modules_to_save",
    ),
    "config unserved module": (
        edit_json(CONFIG, lambda c: {**c, "target_modules": ["q_proj", "lm_head"]}),
        "unsupported_target_modules",
        "lm_head",
    ),
    "config regex modules": (
        edit_json(CONFIG, lambda c: {**c, "target_modules": ".*proj"}),
        "unsupported_target_modules",
        "target_modules",
    ),
    "config too large": (write(CONFIG, " " * (65 << 10) + "{}"), "adapter_file_too_large", CONFIG),
    "config symlink": (symlinked(CONFIG), "invalid_adapter", "symlink"),
    "card missing": (lambda folder: (folder / CARD).unlink(), "invalid_adapter", "base_model_sha256"),
    "card bad JSON": (write(CARD, "{"), "invalid_adapter", CARD),
    "card a list": (write(CARD, "[]"), "invalid_adapter", CARD),
    "card without base hash": (
        edit_json(CARD, lambda c: {k: v for k, v in c.items() if k != "base_model_sha256"}),
        "invalid_adapter",
        "base_model_sha256",
    ),
    "card voice a number": (edit_json(CARD, lambda c: {**c, "voice": 5}), "invalid_adapter", "voice"),
    "card metrics a string": (edit_json(CARD, lambda c: {**c, "metrics": "x"}), "invalid_adapter", "metrics"),
    "card metrics of numbers": (
        edit_json(CARD, lambda c: {**c, "metrics": [1]}),
        "invalid_adapter",
        "metrics",
    ),
    "card metrics nested": (
        edit_json(CARD, lambda c: {**c, "metrics": [{"x": json.loads("[" * 600 + "]" * 600)}]}),
        "invalid_adapter",
        "metrics",
    ),
    "card created a list": (edit_json(CARD, lambda c: {**c, "created": []}), "invalid_adapter", "created"),
    "card symlink": (symlinked(CARD), "invalid_adapter", "symlink"),
    "weights symlink": (symlinked(WEIGHTS), "invalid_adapter", "symlink"),
    "weights not safetensors": (write(WEIGHTS, "nope"), "invalid_adapter", WEIGHTS),
    "weights train an unserved module": (
        weights({f"{LAYER}.embed_tokens.lora_A.weight": torch.zeros(8, 4)}),
        "unsupported_target_modules",
        "embed_tokens",
    ),
    "weights hold a whole module": (
        weights({"base_model.model.lm_head.weight": torch.zeros(4, 4)}),
        "unsupported_adapter",
        "lm_head",
    ),
    "weights wider than the config": (
        weights({f"{LAYER}.self_attn.q_proj.lora_A.weight": torch.zeros(64, 4)}),
        "rank_too_large",
        "64",
    ),
}
