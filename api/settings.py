"""API settings: the settings tree (generation, ranking, registry) plus what only the HTTP server needs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from api.auth import ApiKeyRecord
from creative.app_settings import AppSettings


class ApiSettings(AppSettings):
    """HTTP service settings (env prefix ``ADCREATIVE_``): the tree's groups plus the server's own."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # Limits -------------------------------------------------------------------------------------
    max_body_bytes: int = Field(
        default=64 << 10, ge=1024, le=16 << 20, description="Largest request body accepted (413 above)."
    )
    body_read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds a client may take to send its request body (408 after).",
    )
    limit_concurrency: int = Field(
        default=256,
        ge=1,
        le=65536,
        description="Connections and requests uvicorn serves at once; beyond it new ones get 503 "
        "(uvicorn's limit_concurrency), so slow clients cannot exhaust the server.",
    )
    max_queued_requests: int = Field(
        default=0,
        ge=0,
        le=4096,
        description="Generation requests that may wait for a slot beyond max_concurrent_requests; "
        "any more are answered 429 with Retry-After.",
    )
    retry_after_s: int = Field(default=2, ge=1, le=3600, description="Retry-After sent with a 429.")

    # Auth ---------------------------------------------------------------------------------------------
    api_keys: list[ApiKeyRecord] = Field(
        default_factory=list,
        description="API keys as JSON records {name, sha256, scopes, revoked}; none = open (development, "
        "loopback only unless allow_open).",
    )
    api_keys_file: Path | None = Field(
        default=None, description="A JSON file with a list of key records, read at start (added to api_keys)."
    )
    allow_open: bool = Field(
        default=False,
        description="Serve without API keys on a non-loopback host, or with an empty key list or file "
        "(refused at start otherwise).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "[::1]"],
        description="Host header names requests may use (the bound host is added; `*.example.com` for "
        "subdomains, `*` for any); other hosts get 400. Guards against DNS rebinding.",
    )

    # Logging ------------------------------------------------------------------------------------------
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
