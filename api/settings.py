"""API settings: the generation settings plus what only the HTTP server needs."""

from __future__ import annotations

from pydantic import Field

from creative.settings import Settings


class ApiSettings(Settings):
    """Settings of the HTTP service (env prefix ``ADCREATIVE_``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
