"""The shipped templates: TOML files under ``prompts/templates/``.

They are the seed of the database registry (imported on start) and, on their own, an in-memory
:class:`~prompts.refs.TemplateSource` where ``production`` is each template's newest version.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from prompts.refs import DEFAULT_LABEL, TemplateNotFoundError, check_serves, parse_ref
from prompts.template import PromptTemplate, TemplateError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

__all__ = ["TEMPLATES_DIR", "TemplateNotFoundError", "TemplateStore", "load_template_file"]


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

    def resolve(self, ref: str) -> PromptTemplate:
        """Resolve ``name`` / ``name:production`` (newest version) or ``name@version``."""
        spec = parse_ref(ref)
        versions = self._by_name.get(spec.name)
        if not versions:
            raise TemplateNotFoundError(f"unknown template {spec.name!r}; known: {sorted(self._by_name)}")
        if spec.version is None:
            if spec.label != DEFAULT_LABEL:
                raise TemplateNotFoundError(
                    f"template {spec.name!r} has no label {spec.label!r}; shipped files only have "
                    f"{DEFAULT_LABEL!r}"
                )
            return versions[max(versions)]
        if spec.version not in versions:
            raise TemplateNotFoundError(
                f"template {spec.name!r} has no version {spec.version}; versions: {sorted(versions)}"
            )
        return versions[spec.version]

    def for_placement(self, placement: str, ref: str | None = None) -> PromptTemplate:
        """The template to use: ``ref`` when given (it must serve ``placement``), else the placement's own."""
        return check_serves(self.resolve(ref or placement), placement)
