"""The adapter registry: names, allowed folders, base-model hash, rank; the all-zero base adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from creative.adapters import AdapterError
from tests.unit.creative.adapter_support import make_adapter, registry


def test_folder_load_ids_and_resolution(tmp_path: Path) -> None:
    make_adapter(tmp_path / "house")
    make_adapter(tmp_path / "playful")
    reg = registry(tmp_path, default="house")
    assert [a.name for a in reg.load_folder(tmp_path)] == ["house", "playful"]
    assert [a.int_id for a in reg.all()] == [1, 2]
    assert reg.resolve("default") is not None and reg.resolve("default").name == "house"  # type: ignore[union-attr]
    assert reg.resolve(None) is None  # `"adapter": null` asks for the base model
    assert reg.resolve("playful").describe()["voice"] == "playful"  # type: ignore[union-attr]
    assert "path" not in reg.resolve("playful").describe()  # type: ignore[union-attr]
    assert reg.register("house", tmp_path / "house").int_id == 1  # same folder again: no-op


@pytest.mark.parametrize(
    ("name", "folder", "code"),
    [
        ("Bad Name", "ok", "invalid_adapter_name"),
        ("default", "ok", "invalid_adapter_name"),
        ("outside", "../elsewhere/ok", "path_not_allowed"),
        ("wide", "wide", "rank_too_large"),
        ("other-base", "other-base", "base_model_mismatch"),
        ("empty", "empty", "invalid_adapter"),
        ("taken", "second", "adapter_exists"),
    ],
)
def test_registration_refusals(tmp_path: Path, name: str, folder: str, code: str) -> None:
    root = tmp_path / "root"
    make_adapter(root / "ok")
    make_adapter(tmp_path / "elsewhere" / "ok")
    make_adapter(root / "wide", rank=64)
    make_adapter(root / "other-base", base="b" * 64)
    (root / "empty").mkdir()
    make_adapter(root / "second")
    reg = registry(root)
    reg.register("taken", root / "ok")
    with pytest.raises(AdapterError) as caught:
        reg.register(name, root / folder)
    assert caught.value.info.code == code


def test_unknown_adapter_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(AdapterError) as caught:
        registry(tmp_path).resolve("nope")
    assert caught.value.info.param == "adapter" and caught.value.info.code == "unknown_adapter"


def test_a_bad_adapter_in_the_folder_is_skipped_not_fatal(tmp_path: Path) -> None:
    make_adapter(tmp_path / "good")
    make_adapter(tmp_path / "foreign", base="c" * 64)
    reg = registry(tmp_path)
    assert [a.name for a in reg.load_folder(tmp_path)] == ["good"]
