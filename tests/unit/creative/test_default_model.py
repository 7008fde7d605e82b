"""Preparing the packaged default model: verified hashes, and prepared once when it is the one configured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from creative import default_model
from creative.default_model import MANIFEST, sha256_file, verify_model_dir
from creative.settings import Settings


def test_verify_model_dir_checks_every_hash(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    files = {name: sha256_file(tmp_path / name) for name in ("model.safetensors", "config.json")}
    assert not verify_model_dir(tmp_path)  # no manifest yet: not prepared
    (tmp_path / MANIFEST).write_text(json.dumps({"files": files}))
    assert verify_model_dir(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"corrupted")
    assert not verify_model_dir(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    assert not verify_model_dir(tmp_path)


def test_empty_manifest_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"files": {}}))
    assert not verify_model_dir(tmp_path)


def test_the_default_model_is_prepared_once_and_a_configured_model_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared: list[Path] = []

    def fake_prepare(out_dir: Path) -> Path:
        prepared.append(out_dir)
        return out_dir

    monkeypatch.setattr(default_model, "prepare", fake_prepare)
    settings = Settings(cache_dir=tmp_path)
    default_model.ensure_default_model(settings)
    assert prepared == [settings.default_model_dir]
    settings.default_model_dir.mkdir(parents=True)
    (settings.default_model_dir / MANIFEST).write_text("{}", encoding="utf-8")
    default_model.ensure_default_model(settings)
    default_model.ensure_default_model(Settings(cache_dir=tmp_path / "none", model_path=tmp_path))
    assert prepared == [settings.default_model_dir]  # neither prepared again nor a configured model
