"""The one settings tree: groups read their flat ADCREATIVE_* variables; flat keywords go to their group."""

from __future__ import annotations

import pytest

from api.settings import ApiSettings
from creative.app_settings import AppSettings


def test_each_group_reads_its_own_flat_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADCREATIVE_MAX_N", "6")
    monkeypatch.setenv("ADCREATIVE_MMR_LAMBDA", "0.4")
    monkeypatch.setenv("ADCREATIVE_LABEL_CACHE_SECONDS", "7")
    settings = AppSettings()
    assert settings.generation.max_n == 6
    assert settings.generation.default_n == 6  # an unset default follows a lower limit
    assert settings.ranking.mmr_lambda == 0.4
    assert settings.registry.label_cache_seconds == 7


def test_a_flat_keyword_goes_to_its_group_and_the_environment_fills_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADCREATIVE_MAX_K", "3")
    settings = ApiSettings(max_n=5, mmr_lambda=0.9, port=8123)
    assert (settings.generation.max_n, settings.generation.max_k) == (5, 3)
    assert settings.ranking.mmr_lambda == 0.9 and settings.port == 8123


def test_a_bad_value_names_its_field() -> None:
    with pytest.raises(ValueError, match="max_n"):
        AppSettings(max_n=0)
    with pytest.raises(ValueError, match="default_n"):
        AppSettings(max_n=6, default_n=7)  # a default set above its limit is a mistake, said
