"""The data home: ADCREATIVE_HOME, else var/ in a checkout, else the user's data folder; never the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import paths
from creative.app_settings import AppSettings
from creative.settings import Settings
from prompts.settings import RegistrySettings


def test_the_variable_wins_then_the_checkout_then_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ADCREATIVE_HOME", str(tmp_path / "home"))
    assert paths.default_home() == (tmp_path / "home").resolve()
    monkeypatch.delenv("ADCREATIVE_HOME")
    assert paths.is_source_checkout() and paths.default_home() == paths.SOURCE_ROOT / "var"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(paths, "is_source_checkout", lambda: False)
    assert paths.default_home() == tmp_path / "xdg" / "adcreative"


def test_an_installed_package_is_not_a_checkout(tmp_path: Path) -> None:
    installed = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (installed / "pyproject.toml").parent.mkdir(parents=True)
    (installed / "pyproject.toml").write_text("", encoding="utf-8")
    assert not paths.is_source_checkout(installed)
    assert not paths.is_source_checkout(tmp_path)  # no pyproject.toml: not a checkout either


def test_everything_written_follows_the_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ADCREATIVE_CACHE_DIR", "ADCREATIVE_ADAPTERS_DIR", "ADCREATIVE_TEMPLATES_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADCREATIVE_HOME", str(tmp_path))
    generation, registry = Settings(), RegistrySettings()
    assert generation.cache_dir == tmp_path / "cache" and generation.adapters_dir == tmp_path / "adapters"
    assert generation.resolved_model_path == tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    assert registry.templates_db_url == f"sqlite:///{tmp_path / 'templates.db'}"
    built = AppSettings(home=tmp_path / "other")  # a keyword two groups own reaches both
    assert built.generation.cache_dir == tmp_path / "other" / "cache"
    assert built.registry.templates_db_url == f"sqlite:///{tmp_path / 'other' / 'templates.db'}"


def test_an_explicit_folder_still_overrides_the_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADCREATIVE_HOME", str(tmp_path))
    monkeypatch.setenv("ADCREATIVE_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert Settings().cache_dir == tmp_path / "elsewhere"
