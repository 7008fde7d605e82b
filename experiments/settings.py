"""Settings of the online experiments (env prefix ``ADCREATIVE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.paths import default_home, sqlite_url_in


class ExperimentSettings(BaseSettings):
    """Where experiments are stored, how events are accepted, and how the readout decides."""

    model_config = SettingsConfigDict(env_prefix="ADCREATIVE_", extra="ignore", populate_by_name=True)

    home: Path = Field(
        default_factory=default_home, description="The service's data folder (ADCREATIVE_HOME)."
    )
    experiments_db_url: str = Field(
        default_factory=lambda data: sqlite_url_in(data["home"]),
        validation_alias=AliasChoices(
            "experiments_db_url", "ADCREATIVE_EXPERIMENTS_DB_URL", "ADCREATIVE_TEMPLATES_DB_URL"
        ),
        description="SQLAlchemy URL of the experiments' tables; default: the template registry's database.",
    )
    attribution_window_days: float = Field(
        default=7.0, gt=0.0, le=90.0, description="Events later than this after their decision are refused."
    )
    clock_skew_seconds: float = Field(
        default=300.0, ge=0.0, le=3600.0, description="How far a client's event time may run ahead of ours."
    )
    events_max_body_bytes: int = Field(
        default=1 << 20,
        ge=64 << 10,
        le=16 << 20,
        description="Body limit of POST /v1/events (a full batch of 1,000 events is ~200 KB).",
    )
    experiment_alpha: float = Field(default=0.05, gt=0.0, lt=0.5, description="The readout's error rate.")
    sequential_tuning_units: int = Field(
        default=5000,
        ge=100,
        le=100_000_000,
        description="Units at which the always-valid interval is tightest.",
    )
    experiment_min_events: int = Field(
        default=30, ge=1, le=100_000, description="Numerator events each arm needs before a lift is tested."
    )
    policy_update_events: int = Field(
        default=1000,
        ge=1,
        le=10_000_000,
        description="An adaptive policy learns a new version once this many events arrived since its last.",
    )
    policy_update_seconds: float = Field(
        default=300.0,
        ge=1.0,
        le=7 * 86_400.0,
        description="... or once this long passed since its last version, with some events.",
    )
    policy_check_seconds: float = Field(
        default=5.0, ge=0.1, le=3600.0, description="How often the server checks whether an update is due."
    )
