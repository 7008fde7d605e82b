"""The first import into an empty registry logs at INFO without crashing (a fresh machine's `make serve`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from prompts.importer import import_directory
from prompts.registry import TemplateRegistry


def test_first_import_logs_at_info_level(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = TemplateRegistry.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with caplog.at_level(logging.INFO, logger="prompts.importer"):
            created = import_directory(registry)
    finally:
        registry.close()
    assert "google_search@1" in created
    [record] = [r for r in caplog.records if r.getMessage() == "imported shipped templates"]
    assert record.__dict__["templates"] == created
