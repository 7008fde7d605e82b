"""Where entry points (API, CLI, batch) get their templates from: the registry database."""

from __future__ import annotations

import logging

from prompts.importer import import_directory
from prompts.registry import TemplateRegistry
from prompts.settings import RegistrySettings

logger = logging.getLogger(__name__)


def template_source_from_settings(settings: RegistrySettings | None = None) -> TemplateRegistry:
    """Open the configured registry (migrated to the newest schema) and import the shipped templates."""
    settings = settings or RegistrySettings()
    registry = TemplateRegistry.from_url(settings.templates_db_url, label_ttl_s=settings.label_cache_seconds)
    if settings.import_shipped_templates:
        import_directory(registry)
    return registry
