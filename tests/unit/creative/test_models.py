from __future__ import annotations

import json
from pathlib import Path

from creative.models import MANIFEST, sha256_file, verify_model_dir


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
