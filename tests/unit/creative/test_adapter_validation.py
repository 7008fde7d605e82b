"""Adapter folders are validated, not trusted: malformed files, odd types, symlinks, ranks, modules."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from creative.adapters import SHIPPED_ADAPTERS_DIR, AdapterError, AdapterRegistry, registry_from_settings
from creative.default_model import model_weights_sha256
from creative.settings import Settings
from tests.unit.creative.adapter_support import (
    BASE,
    CARD,
    MALFORMED,
    make_adapter,
    registry,
    served_base,
)


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
    settings = Settings(shipped_adapters=False, adapters_dir=tmp_path, enable_lora=False)
    assert registry_from_settings(settings).enabled is False


def test_served_modules_come_from_the_settings(tmp_path: Path) -> None:
    make_adapter(tmp_path / "mlp", base=served_base(), modules=("gate_proj", "down_proj"))
    settings = Settings(
        shipped_adapters=False,
        adapters_dir=tmp_path,
        lora_target_modules=("q_proj", "v_proj"),
        default_adapter=None,
    )
    assert registry_from_settings(settings).names() == []  # skipped: trains modules the engine does not serve
    assert registry_from_settings(
        Settings(shipped_adapters=False, adapters_dir=tmp_path, default_adapter=None)
    ).names() == ["mlp"]


def test_described_fields_have_their_types() -> None:
    """What GET /v1/adapters shows comes from a validated card, so one adapter cannot break the listing."""
    reg = AdapterRegistry(model_weights_sha256(Settings().resolved_model_path), [SHIPPED_ADAPTERS_DIR], 16)
    reg.load_folder(SHIPPED_ADAPTERS_DIR)
    assert reg.names() == ["house", "playful", "premium"]  # the shipped adapters pass every check
    for adapter in reg.all():
        described = adapter.describe()
        assert isinstance(described["voice"], str) and isinstance(described["created"], str)
        assert (
            all(isinstance(m, dict) for m in described["metrics"])
            and len(described["base_model_sha256"]) == 64
        )
    assert [a.rank for a in reg.all()] == [16, 16, 16]
