"""Shared helpers of the training tests: valid training rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from creative.settings import Settings
from creative.training.data import TrainingRow
from creative.training.train import TrainConfig


def row(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "profile": {"id": "p1", "interests": ["trail running"], "segment": "outdoor"},
        "product": {
            "name": "TrailRunner X",
            "brand": "Peak",
            "description": "Waterproof trail shoe",
            "features": ["waterproof", "380 g"],
            "price": 89,
            "currency": "USD",
            "category": "footwear",
        },
        "placement": "push",
        "target": {"title": "Dry feet on muddy trails", "body": "The Peak TrailRunner X weighs 380 g. $89."},
    }
    data.update(overrides)
    return data


def rows() -> list[TrainingRow]:
    other = row(profile={"id": "p2", "interests": ["baking"]})
    other["target"] = {"title": "Warm feet after baking", "body": "Peak TrailRunner X: waterproof, 380 g."}
    return [TrainingRow.model_validate(row()), TrainingRow.model_validate(other)]


def tiny_config(tmp_path: Path, **changes: Any) -> TrainConfig:
    """A rank-4 q/v training run of :func:`rows` on the prepared model, into ``tmp_path / "adapter"``."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(r.model_dump_json() + "\n" for r in rows()))
    settings: dict[str, Any] = {
        "data": data,
        "validation": None,
        "out": tmp_path / "adapter",
        "model_path": Settings().resolved_model_path,
        "rank": 4,
        "alpha": 8,
        "target_modules": ("q_proj", "v_proj"),
        "batch_size": 2,
        "bf16": False,
    }
    return TrainConfig(**(settings | changes))
