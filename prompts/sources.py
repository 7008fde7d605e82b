"""Where entry points (API, CLI, batch) get their templates from."""

from __future__ import annotations

from prompts.refs import TemplateSource
from prompts.store import TemplateStore


def template_source_from_settings() -> TemplateSource:
    """The configured template source (the shipped files until the registry database is configured)."""
    return TemplateStore.from_directory()
