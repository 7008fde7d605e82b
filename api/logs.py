"""Logging for the server: JSON lines by default (python-json-logger), plain text on request.

Nothing here logs request bodies: profile fields and generated copy reach the logs only through the
writer, and only when ``ADCREATIVE_LOG_SENSITIVE`` is on.
"""

from __future__ import annotations

import logging.config
from typing import Any

from api.settings import ApiSettings


def logging_config(settings: ApiSettings) -> dict[str, Any]:
    """A ``dictConfig`` for the root logger, uvicorn's loggers and vLLM's."""
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if settings.log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["stderr"], "level": settings.log_level},
        "loggers": {
            # Our own access log has the route template, status, latency and request id; uvicorn's would
            # add the raw path and client address.
            "uvicorn.access": {"level": "WARNING"},
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
        },
    }


def configure_logging(settings: ApiSettings) -> None:
    """Apply :func:`logging_config`."""
    logging.config.dictConfig(logging_config(settings))
