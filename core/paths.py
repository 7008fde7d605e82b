"""Where the project's files are: the checkout's root (templates, adapters, examples, caches)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
