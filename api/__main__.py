"""``python -m api``: serve the API, write the OpenAPI document, or make an API key.

python -m api                      # serve on ADCREATIVE_HOST:ADCREATIVE_PORT (default 127.0.0.1:8000)
python -m api openapi [--output openapi.json]
python -m api new-key --name NAME [--scope generate --scope templates:write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from api.auth import SCOPES, new_key
from core.paths import SOURCE_ROOT, is_source_checkout

# The committed document in a checkout; the working folder for an installed package (never site-packages).
OPENAPI_PATH = SOURCE_ROOT / "openapi.json" if is_source_checkout() else Path("openapi.json")


def serve() -> None:
    """Run the server (one process: the vLLM engine is not fork-safe across uvicorn workers)."""
    import uvicorn

    from api.app import create_app
    from api.logs import configure_logging
    from api.security import StartupRefusedError
    from api.settings import ApiSettings
    from creative.default_model import ModelPreparationError, ensure_default_model

    settings = ApiSettings()
    configure_logging(settings)
    try:
        ensure_default_model(settings.generation)
    except ModelPreparationError as exc:
        print(f"error: cannot prepare the default model: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        app = create_app(settings)
    except StartupRefusedError as exc:  # a configuration that would serve insecurely: say why, no traceback
        print(f"error: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        limit_concurrency=settings.limit_concurrency,
    )


def openapi_document() -> str:
    """The app's OpenAPI document as stable, indented JSON (what ``openapi.json`` holds)."""
    from api.app import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m api``."""
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the API (the default)")
    doc = sub.add_parser("openapi", help="write the OpenAPI document")
    doc.add_argument("--output", type=Path, default=OPENAPI_PATH)
    key = sub.add_parser("new-key", help="make an API key and print the record to configure")
    key.add_argument("--name", required=True)
    key.add_argument("--scope", action="append", choices=SCOPES, dest="scopes")
    args = parser.parse_args(argv)

    if args.command == "openapi":
        args.output.write_text(openapi_document(), encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    elif args.command == "new-key":
        secret, record = new_key(args.name, args.scopes or ["generate"])
        print(f"key (shown once, store it now): {secret}", file=sys.stderr)
        print(json.dumps(record.model_dump(mode="json")))
    else:
        serve()
    return 0


if __name__ == "__main__":  # vLLM's engine process re-imports __main__: keep this guard
    raise SystemExit(main())
