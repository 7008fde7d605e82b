"""Where the template registry lives (env prefix ``ADCREATIVE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.paths import default_home, sqlite_url_in


class RegistrySettings(BaseSettings):
    """The registry database and the import of the shipped template files."""

    model_config = SettingsConfigDict(env_prefix="ADCREATIVE_", extra="ignore")

    home: Path = Field(
        default_factory=default_home, description="The service's data folder (ADCREATIVE_HOME)."
    )
    templates_db_url: str = Field(
        default_factory=lambda data: sqlite_url_in(data["home"]),
        description="SQLAlchemy URL of the template registry: a SQLite file by default, or "
        "postgresql://user:pass@host/db in production.",
    )
    label_cache_seconds: float = Field(
        default=2.0,
        ge=0.0,
        le=3600.0,
        description="How long a resolved label is reused before asking the database again (0: always ask); "
        "a label moved by another worker takes effect within this time.",
    )
    import_shipped_templates: bool = Field(
        default=True, description="Import prompts/templates/*.toml as versions on start (idempotent)."
    )
