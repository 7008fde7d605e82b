"""Import the shipped ``*.toml`` templates into the registry as versions (idempotent)."""

from __future__ import annotations

import logging
from contextlib import suppress
from pathlib import Path

from prompts.models import StaleLabelError, StaleVersionError, VersionDraft, content_hash, content_of
from prompts.refs import DEFAULT_LABEL
from prompts.registry import TemplateRegistry
from prompts.store import TEMPLATES_DIR, load_template_file

logger = logging.getLogger(__name__)

IMPORT_AUTHOR = "shipped-files"


def import_directory(registry: TemplateRegistry, directory: Path = TEMPLATES_DIR) -> list[str]:
    """Import the ``*.toml`` templates of ``directory``; returns the refs created.

    A file whose content is already some version of its template is skipped. A template imported for the
    first time gets its ``production`` label; later imports never move a label a person set.
    """
    created = []
    for path in sorted(directory.glob("*.toml")):
        shipped = load_template_file(path)
        digest = content_hash(content_of(shipped))
        for _ in range(5):  # another process may be importing at the same time
            latest = registry.latest_version(shipped.name)
            if registry.has_content(shipped.name, digest):
                break
            draft = VersionDraft(
                base_version=latest,
                message=f"imported from {path.name} (shipped version {shipped.version})",
                **content_of(shipped),
            )
            try:
                saved = registry.create_version(shipped.name, draft, IMPORT_AUTHOR)
            except StaleVersionError:
                continue
            created.append(saved.ref)
            if saved.version == 1:
                with suppress(StaleLabelError):
                    registry.move_label(
                        shipped.name, DEFAULT_LABEL, 1, author=IMPORT_AUTHOR, expected_version=None
                    )
            break
    if created:
        logger.info("imported shipped templates", extra={"templates": created})
    return created
