"""The adapter card written beside a trained adapter (``adapter_card.json``): what decided it, so a run can
be told apart from another and repeated: base model and hash, data files and hashes, the adapter it
started from, hyperparameters and per-epoch losses."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creative.adapter_files import CARD
from creative.default_model import model_weights_sha256
from creative.training.data import file_sha256

if TYPE_CHECKING:
    from creative.training.checkpoint import TrainState

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    """Everything that decides an adapter (recorded in its card)."""

    data: Path
    validation: Path | None
    out: Path
    model_path: Path
    voice: str | None = None
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    epochs: int = 2
    lr: float = 3e-4
    batch_size: int = 8
    max_length: int = 1024
    warmup_ratio: float = 0.05
    seed: int = 0
    save_steps: int = 50
    device: str = "auto"
    bf16: bool | None = None  # None: autocast to bfloat16 where the hardware does it natively
    extra_data: tuple[Path, ...] = ()  # more training rows (e.g. best-of-n targets), validated alike
    init_adapter: Path | None = None  # start from this adapter's weights (a voice from the house adapter)


def _extra_record(path: Path) -> dict[str, Any]:
    """An extra data file for the card: path, hash and, when one lies beside it, how it was made
    (``NAME.summary.json``, written by ``python -m creative.training sample``)."""
    record: dict[str, Any] = {"file": str(path), "sha256": file_sha256(path)}
    summary = path.with_suffix(".summary.json")
    if summary.is_file():
        record["recipe"] = json.loads(summary.read_text())
    return record


def _init_record(path: Path | None) -> dict[str, Any] | None:
    """The adapter a run started from: its folder, weights hash and, when it has one, its card's data."""
    if path is None:
        return None
    record: dict[str, Any] = {"path": str(path), "sha256": file_sha256(path / "adapter_model.safetensors")}
    card = path / CARD
    if card.is_file():
        record["card"] = {
            k: v for k, v in json.loads(card.read_text()).items() if k in {"name", "voice", "data"}
        }
    return record


def adapter_card(
    config: TrainConfig, examples: int, held_out: int, runtime: dict[str, Any], state: TrainState
) -> dict[str, Any]:
    """The adapter card: base model and its hash, data files and hashes, the adapter it started from,
    hyperparameters, metrics."""
    validation = None
    if config.validation:
        validation = {
            "file": str(config.validation),
            "sha256": file_sha256(config.validation),
            "examples": held_out,
        }
    return {
        "name": config.out.name,
        "base_model": config.model_path.name,
        "base_model_sha256": model_weights_sha256(config.model_path),
        "voice": config.voice or "house",
        "data": {"train": str(config.data), "train_sha256": file_sha256(config.data), "examples": examples}
        | ({"extra": [_extra_record(path) for path in config.extra_data]} if config.extra_data else {}),
        "validation": validation,
        "hyperparameters": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(config).items()
            if k not in {"data", "validation", "out", "model_path", "extra_data", "init_adapter"}
        }
        | runtime,
        "init_adapter": _init_record(config.init_adapter),
        "metrics": state.history,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
