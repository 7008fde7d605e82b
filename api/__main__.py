"""``python -m api``: serve the API with uvicorn on ``ADCREATIVE_HOST:ADCREATIVE_PORT``."""

from __future__ import annotations

import logging

import uvicorn

from api.app import create_app
from api.settings import ApiSettings


def main() -> None:
    """Run the server (one process: the vLLM engine is not fork-safe across uvicorn workers)."""
    settings = ApiSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":  # vLLM's engine process re-imports __main__: keep this guard
    main()
