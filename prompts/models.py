"""What the registry reads and writes: drafts, immutable versions, summaries, label moves, diffs, errors."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from core.errors import ServiceError
from prompts.template import PromptTemplate, SamplingDefaults, TemplateError, TemplateName, VariableName

CONTENT_FIELDS = ("description", "placements", "variables", "system", "user", "sampling")


def _refuse_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; refuse it on every backend alike
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


class TemplateContent(BaseModel):
    """What a version holds: texts, declared variables, placements and default sampling."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=500)
    placements: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=20
    )
    variables: list[Annotated[str, StringConstraints(min_length=1, max_length=41)]] = Field(max_length=20)
    system: str = Field(min_length=1, max_length=20_000)
    user: str = Field(min_length=1, max_length=20_000)
    sampling: SamplingDefaults = Field(default_factory=SamplingDefaults)

    @field_validator("description", "system", "user")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        return _refuse_nul(value)


class VersionDraft(TemplateContent):
    """What an editor saves: the new content, the version the edit started from, and a message."""

    base_version: int | None = Field(
        ge=0,
        description="The version this edit started from (optimistic concurrency: a save on top of an older "
        "version is refused with 409). null or 0 only when creating a new template.",
    )
    message: str = Field(min_length=1, max_length=500, description="Why this version exists.")

    @field_validator("message")
    @classmethod
    def _no_nul_message(cls, value: str) -> str:
        return _refuse_nul(value)


class TemplateVersion(BaseModel):
    """One immutable version, with the labels that point at it now."""

    model_config = ConfigDict(frozen=True)

    name: TemplateName
    version: int
    description: str
    placements: list[str]
    variables: list[VariableName]
    system: str
    user: str
    sampling: SamplingDefaults
    author: str
    message: str
    created_at: datetime
    labels: list[str] = Field(default_factory=list)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_prompt(self) -> PromptTemplate:
        """The renderable template of this version."""
        return PromptTemplate(
            name=self.name,
            version=self.version,
            description=self.description,
            placements=self.placements,
            variables=self.variables,
            system=self.system,
            user=self.user,
            sampling=self.sampling,
        )


class TemplateSummary(BaseModel):
    """A template in a listing: its newest version and where its labels point."""

    name: str
    description: str
    latest_version: int
    placements: list[str]
    labels: dict[str, int] = Field(description='Label → version, e.g. `{"production": 2}`.')
    updated_at: datetime


class LabelMove(BaseModel):
    """A label moved from one version to another (``previous_version`` null: the label was new)."""

    name: str
    label: str
    version: int
    previous_version: int | None
    author: str
    moved_at: datetime


class TemplateDiff(BaseModel):
    """Two versions compared field by field, as unified diffs."""

    name: str
    from_version: int
    to_version: int
    changed: list[str] = Field(description="The fields that differ.")
    fields: dict[str, str] = Field(description="A unified diff per changed field.")
    unified: str = Field(description="One unified diff of the whole versions.")


class ConflictError(ServiceError):
    """409: the template or label changed meanwhile; ``current`` is where it is now."""

    status = 409
    error_type = "conflict"

    def __init__(self, message: str, current: int | None):
        super().__init__(message)
        self.current = current

    def body(self) -> dict[str, Any]:
        """The error object with ``current_version``: where to reload from."""
        return {**super().body(), "current_version": self.current}


class StaleVersionError(ConflictError):
    """A save started from a version that is no longer the newest (someone saved meanwhile)."""

    code = "stale_version"
    param = "base_version"


class StaleLabelError(ConflictError):
    """A label was moved meanwhile: it no longer points where the caller expected."""

    code = "stale_label"
    param = "expected_version"


class TemplateValidationError(TemplateError):
    """A draft cannot become a version (422); ``param`` names the field at fault."""

    def __init__(self, message: str, param: str, code: str = "invalid_template"):
        super().__init__(message, param=param, code=code)


def content_of(source: Any) -> dict[str, Any]:
    """The content fields of a draft, version or template, as plain JSON values."""
    sampling = source.sampling.model_dump(exclude_none=True) if source.sampling else {}
    return {
        "description": source.description,
        "placements": list(source.placements),
        "variables": list(source.variables),
        "system": source.system,
        "user": source.user,
        "sampling": dict(sorted(sampling.items())),
    }


def content_hash(content: dict[str, Any]) -> str:
    """sha256 of the content (equal content, equal hash): what makes imports idempotent."""
    payload = {key: content[key] for key in CONTENT_FIELDS}
    payload["sampling"] = {k: v for k, v in sorted((payload["sampling"] or {}).items()) if v is not None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
