"""Template references as requests and arms files write them: ``name``, ``name@3`` or ``name:staging``.

``name`` means the version the ``production`` label points at. Every template source (the in-memory
store of shipped files, the database registry) resolves references through :func:`parse_ref` and
implements :class:`TemplateSource`, so the writer and the batch runner do not care which one they get.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from core.errors import ServiceError
from prompts.template import PromptTemplate, TemplateError

DEFAULT_LABEL = "production"
LABEL_PATTERN = r"^[a-z][a-z0-9_\-]{0,31}$"
_REF = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9_\-]{0,62})"
    r"(?:@(?P<version>\d{1,9})|:(?P<label>[a-z][a-z0-9_\-]{0,31}))?$"
)


class TemplateNotFoundError(ServiceError, LookupError):
    """No template, version or label matches the reference (404)."""

    status = 404
    error_type = "not_found_error"
    code = "template_not_found"
    param = "template"


class TemplateRefError(TemplateError):
    """The reference itself is malformed (400)."""

    status = 400
    code = "invalid_template_ref"


@dataclass(frozen=True)
class TemplateRefSpec:
    """A parsed reference: exactly one of ``version`` / ``label`` is set."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version is not None else f"{self.name}:{self.label}"


def parse_ref(ref: str) -> TemplateRefSpec:
    """Parse ``name`` / ``name@N`` / ``name:label``; a bare name means ``name:production``."""
    match = _REF.match(ref.strip())
    if match is None:
        raise TemplateRefError(
            f"malformed template reference {ref!r}; use 'name', 'name@3' or 'name:staging'"
        )
    version = match["version"]
    if version is not None:
        if int(version) < 1:
            raise TemplateRefError(f"template versions start at 1, not {version}")
        return TemplateRefSpec(match["name"], version=int(version))
    return TemplateRefSpec(match["name"], label=match["label"] or DEFAULT_LABEL)


class TemplateSource(Protocol):
    """Where the writer gets templates from."""

    def resolve(self, ref: str) -> PromptTemplate:
        """The version ``ref`` names; :class:`TemplateNotFoundError` / :class:`TemplateRefError` if none."""
        ...

    def for_placement(self, placement: str, ref: str | None = None) -> PromptTemplate:
        """``ref`` (which must serve ``placement``), or the placement's own template at ``production``."""
        ...


def check_serves(template: PromptTemplate, placement: str) -> PromptTemplate:
    """``template`` if it writes for ``placement``, else :class:`TemplateError`."""
    if placement not in template.placements:
        raise TemplateError(
            f"template {template.ref} is for {template.placements}, not for placement {placement!r}"
        )
    return template
