"""Resumable training: the checkpoint folder (adapter + trainer state), written atomically and loaded
without running pickled code."""

from __future__ import annotations

import pickle
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from creative.files import fsync_dir, fsync_files

CHECKPOINT = "checkpoint"
TRAINER_STATE = "trainer_state.pt"


class TrainingCheckpointError(ValueError):
    """The checkpoint cannot be resumed from (the message says why and what to do)."""


@dataclass
class TrainState:
    """Where training is: resumable from the checkpoint that stores it."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def save_trainer_checkpoint(
    checkpoint: Path, model: Any, state: TrainState, optimizer: Any, scheduler: Any
) -> None:
    """The adapter and the trainer state (tensors and plain data only, loadable with ``weights_only``),
    written to a staging folder, fsynced, then renamed over ``checkpoint``."""
    staging = checkpoint.with_name(checkpoint.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging))
    trainer_state = {
        "state": asdict(state),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    torch.save(trainer_state, staging / TRAINER_STATE)
    fsync_files(staging)
    shutil.rmtree(checkpoint, ignore_errors=True)
    staging.rename(checkpoint)
    fsync_dir(checkpoint.parent)


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    """Progress, optimizer, scheduler and RNG state saved with a checkpoint, unpickled with
    ``weights_only=True``: tensors and plain containers load, any other object is refused, never run."""
    path = checkpoint / TRAINER_STATE
    try:
        saved = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TrainingCheckpointError(
            f"{path} holds more than tensors and plain data; refusing to load it "
            f"({str(exc).splitlines()[0]}). Delete {checkpoint} to train from the start."
        ) from None
    if not isinstance(saved, dict) or not {"state", "optimizer", "scheduler", "torch_rng"} <= saved.keys():
        raise TrainingCheckpointError(f"{path} is not a trainer state; delete {checkpoint} to start over")
    return saved
