"""Training resume loads its checkpoint as data only: a pickled object in it is refused, never run."""

from __future__ import annotations

import pathlib
from pathlib import Path

import pytest
import torch

from creative.training.checkpoint import TrainingCheckpointError
from creative.training.train import train
from tests.unit.creative.training_support import tiny_config


class Payload:
    """Unpickling this object calls ``Path.touch`` on the marker: any code could run instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[pathlib.Path]]:
        return (pathlib.Path.touch, (self.marker,))


def test_a_checkpoint_holding_a_pickled_object_is_refused_not_run(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = tiny_config(tmp_path, epochs=1)
    checkpoint = config.out / "checkpoint"
    model = AutoModelForCausalLM.from_pretrained(str(config.model_path), dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(model, lora).save_pretrained(str(checkpoint))
    marker = tmp_path / "pwned"
    torch.save({"state": Payload(marker)}, checkpoint / "trainer_state.pt")

    with pytest.raises(TrainingCheckpointError, match=r"trainer_state\.pt"):
        train(config, resume=True, progress=False)
    assert not marker.exists()
