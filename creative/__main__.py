"""``python -m creative``: see :mod:`creative.cli`."""

from creative.cli import main

if __name__ == "__main__":  # vLLM's worker processes re-import __main__: keep this guard
    raise SystemExit(main())
