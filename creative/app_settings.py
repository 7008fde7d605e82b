"""The one settings tree every entry point reads (env prefix ``ADCREATIVE_``, flat variable names kept).

:class:`AppSettings` nests the settings of each job: ``generation`` (the engine, the writer, the limits:
:class:`creative.settings.Settings`), ``ranking`` (:class:`ranking.settings.RankingSettings`),
``registry`` (:class:`prompts.settings.RegistrySettings`) and ``experiments``
(:class:`experiments.settings.ExperimentSettings`). Each group reads its own variables
(``ADCREATIVE_MAX_N``, ``ADCREATIVE_MMR_LAMBDA``, ``ADCREATIVE_TEMPLATES_DB_URL``…), so nesting renamed
nothing. Built in code, a flat keyword goes to the group that owns it (``AppSettings(max_n=4)``); the
other fields of that group still come from the environment. The API's settings extend this tree.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from creative.settings import Settings
from experiments.settings import ExperimentSettings
from prompts.settings import RegistrySettings
from ranking.settings import RankingSettings

_GROUPS: dict[str, type[BaseSettings]] = {
    "generation": Settings,
    "ranking": RankingSettings,
    "registry": RegistrySettings,
    "experiments": ExperimentSettings,
}


class AppSettings(BaseSettings):
    """Generation, ranking, template-registry and experiments settings, read once."""

    model_config = SettingsConfigDict(env_prefix="ADCREATIVE_", extra="ignore")

    generation: Settings = Field(default_factory=Settings)
    ranking: RankingSettings = Field(default_factory=RankingSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)

    @model_validator(mode="before")
    @classmethod
    def _route_flat_fields(cls, data: Any) -> Any:
        """Send flat keywords to their group, built as settings (so the group's environment still applies)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        routed: set[str] = set()
        for group, model in _GROUPS.items():  # a name several groups own (``home``) goes to each of them
            flat = {name: value for name, value in data.items() if name in model.model_fields}
            if flat:
                routed.update(flat)
                given = data.get(group)
                base = given.model_dump() if isinstance(given, BaseSettings) else dict(given or {})
                data[group] = model(**{**base, **flat})
        return {name: value for name, value in data.items() if name not in routed}
