"""Adapter folders are validated, not trusted: malformed files, odd types, symlinks, ranks, modules."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from core.paths import PROJECT_ROOT
from creative.adapters import AdapterError, AdapterRegistry, registry_from_settings
from creative.models import model_weights_sha256
from creative.settings import Settings
from tests.unit.creative.test_adapters import BASE, make_adapter, registry

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


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_adapter_is_refused_naming_the_problem(tmp_path: Path, case: str) -> None:
    breaks, code, named = MALFORMED[case]
    folder = make_adapter(tmp_path / "root" / "bad")
    breaks(folder)
    with pytest.raises(AdapterError) as caught:
        registry(tmp_path / "root").register("bad", folder)
    assert caught.value.info.code == code, caught.value.info
    assert named in caught.value.info.message and caught.value.info.param == "path"


def test_the_scan_skips_every_malformed_adapter_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i, (breaks, _, _) in enumerate(MALFORMED.values()):
        breaks(make_adapter(tmp_path / f"bad{i:02d}"))
    make_adapter(tmp_path / "good")
    (tmp_path / "linked").symlink_to(tmp_path / "good", target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="creative.adapters"):
        loaded = registry(tmp_path).load_folder(tmp_path)
    assert [a.name for a in loaded] == ["good"]
    skipped = {getattr(r, "adapter", None) for r in caplog.records if r.getMessage() == "adapter skipped"}
    assert skipped == {f"bad{i:02d}" for i in range(len(MALFORMED))} | {"linked"}


def test_a_symlinked_adapter_folder_is_refused(tmp_path: Path) -> None:
    make_adapter(tmp_path / "real")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    with pytest.raises(AdapterError, match="symlink"):
        registry(tmp_path).register("alias", tmp_path / "alias")


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "fifo")
    (folder / CARD).unlink()
    os.mkfifo(folder / CARD)  # opening it for reading would block without O_NONBLOCK + a regular-file check
    with pytest.raises(AdapterError, match="regular file"):
        registry(tmp_path).register("fifo", folder)


def test_registration_is_refused_while_lora_is_off(tmp_path: Path) -> None:
    make_adapter(tmp_path / "house")
    off = AdapterRegistry(BASE, [tmp_path], 16, enabled=False)
    with pytest.raises(AdapterError) as caught:
        off.register("house", tmp_path / "house")
    assert caught.value.info.code == "lora_disabled" and "ENABLE_LORA" in caught.value.info.message
    settings = Settings(adapters_dir=tmp_path, enable_lora=False)
    assert registry_from_settings(settings).enabled is False


def test_served_modules_come_from_the_settings(tmp_path: Path) -> None:
    make_adapter(tmp_path / "mlp", base=served_base(), modules=("gate_proj", "down_proj"))
    settings = Settings(adapters_dir=tmp_path, lora_target_modules=("q_proj", "v_proj"), default_adapter=None)
    assert registry_from_settings(settings).names() == []  # skipped: trains modules the engine does not serve
    assert registry_from_settings(Settings(adapters_dir=tmp_path, default_adapter=None)).names() == ["mlp"]


def test_described_fields_have_their_types() -> None:
    """What GET /v1/adapters shows comes from a validated card, so one adapter cannot break the listing."""
    reg = AdapterRegistry(
        model_weights_sha256(Settings().resolved_model_path), [PROJECT_ROOT / "adapters"], 16
    )
    reg.load_folder(PROJECT_ROOT / "adapters")
    assert reg.names() == ["house", "playful", "premium"]  # the shipped adapters pass every check
    for adapter in reg.all():
        described = adapter.describe()
        assert isinstance(described["voice"], str) and isinstance(described["created"], str)
        assert (
            all(isinstance(m, dict) for m in described["metrics"])
            and len(described["base_model_sha256"]) == 64
        )
    assert [a.rank for a in reg.all()] == [16, 8, 8]
