"""The shipped templates: TOML files under ``prompts/templates/``, looked up by ``name[@version]``."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from prompts.template import PromptTemplate, TemplateError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class TemplateNotFoundError(LookupError):
    """No template matches the requested name or version."""


def load_template_file(path: Path) -> PromptTemplate:
    """Parse and validate one template file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return PromptTemplate.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError, TemplateError) as exc:
        raise TemplateError(f"{path.name}: {exc}") from exc


class TemplateStore:
    """Immutable in-memory set of template versions."""

    def __init__(self, templates: Iterable[PromptTemplate]):
        self._by_name: dict[str, dict[int, PromptTemplate]] = {}
        for template in templates:
            versions = self._by_name.setdefault(template.name, {})
            if template.version in versions:
                raise TemplateError(f"duplicate template version {template.ref}")
            versions[template.version] = template

    @classmethod
    def from_directory(cls, directory: Path = TEMPLATES_DIR) -> TemplateStore:
        """Load every ``*.toml`` template under ``directory``."""
        return cls(load_template_file(path) for path in sorted(directory.glob("*.toml")))

    def all(self) -> list[PromptTemplate]:
        """Every version of every template, sorted by name then version."""
        return [t for name in sorted(self._by_name) for _, t in sorted(self._by_name[name].items())]

    def get(self, ref: str) -> PromptTemplate:
        """Resolve ``name`` (latest version) or ``name@version``."""
        name, _, version_text = ref.partition("@")
        versions = self._by_name.get(name)
        if not versions:
            raise TemplateNotFoundError(f"unknown template {name!r}; known: {sorted(self._by_name)}")
        if not version_text:
            return versions[max(versions)]
        if not version_text.isdigit() or int(version_text) not in versions:
            raise TemplateNotFoundError(
                f"template {name!r} has no version {version_text!r}; versions: {sorted(versions)}"
            )
        return versions[int(version_text)]

    def for_placement(self, placement: str, ref: str | None = None) -> PromptTemplate:
        """The template to use: ``ref`` when given (it must serve ``placement``), else the placement's own."""
        template = self.get(ref or placement)
        if placement not in template.placements:
            raise TemplateError(
                f"template {template.ref} is for {template.placements}, not for placement {placement!r}"
            )
        return template
