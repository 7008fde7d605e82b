"""Models of the template routes: listings, versions, label moves, diffs and the preview.

Saving a version takes the registry's :class:`~prompts.models.VersionDraft` as is; the preview answers
with :class:`~creative.preview.PreviewResult`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.schema import MAX_SEED, CreativeRequest, ErrorInfo, Product, Profile
from prompts.models import LabelMove, TemplateContent, TemplateSummary, TemplateVersion, VersionDraft
from prompts.template import SamplingDefaults


class TemplateList(BaseModel):
    """``GET /v1/templates``: every template, and the variables a template may use."""

    object: str = "list"
    data: list[TemplateSummary]
    variables: dict[str, str] = Field(
        description="The variables requests provide (name → what it holds); a template may use only these."
    )


class VersionMeta(BaseModel):
    """A version without its text: who saved it, when, why, and which labels point at it."""

    name: str
    version: int
    ref: str = Field(description="`name@version`, usable as a request's `template`.")
    description: str
    author: str
    message: str
    created_at: datetime
    labels: list[str]

    @classmethod
    def of(cls, version: TemplateVersion) -> VersionMeta:
        """From the registry's version."""
        return cls.model_validate({**version.model_dump(), "ref": version.ref})


class TemplateVersionInfo(VersionMeta):
    """One immutable version with its text, variables and sampling defaults."""

    placements: list[str]
    variables: list[str]
    system: str
    user: str
    sampling: SamplingDefaults

    @classmethod
    def of(cls, version: TemplateVersion) -> TemplateVersionInfo:
        """From the registry's version."""
        return cls.model_validate({**version.model_dump(), "ref": version.ref})


class VersionList(BaseModel):
    """``GET /v1/templates/{name}/versions``: every version, oldest first."""

    object: str = "list"
    data: list[TemplateVersionInfo]


class TemplateDetail(TemplateSummary):
    """``GET /v1/templates/{name}``: the template, its versions (no text) and its label history."""

    versions: list[VersionMeta] = Field(description="Oldest first.")
    label_history: list[LabelMove] = Field(description="Newest first.")


class LabelMoveBody(BaseModel):
    """``PUT /v1/templates/{name}/labels/{label}``: point the label at ``version``.

    With ``expected_version`` (null: the label must not exist yet) the move is refused with 409 when the
    label was moved meanwhile; without it the move is unconditional.
    """

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=10**9)
    expected_version: int | None = Field(default=None, ge=1, le=10**9)

    def expected(self) -> Any:
        """``expected_version`` for the registry: ``...`` when the client did not send one."""
        return self.expected_version if "expected_version" in self.model_fields_set else ...


class PreviewDraft(TemplateContent):
    """Unsaved template text to preview (what the editor shows; validated like a save)."""

    base_version: int | None = Field(default=None, ge=0, le=10**9)

    def as_version_draft(self) -> VersionDraft:
        """The registry's draft (with a placeholder message: a preview is never saved)."""
        return VersionDraft(**self.model_dump(), message="preview")


class PreviewSample(BaseModel):
    """The sample request: who sees the ad, what it sells, where it runs."""

    model_config = ConfigDict(extra="forbid")

    profile: Profile
    product: Product
    placement: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Default: the template's first placement."
    )
    forbidden_words: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=50
    )


class PreviewBody(BaseModel):
    """``POST /v1/templates/{name}/preview``: a saved version or a draft, rendered for a sample."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=10**9, description="A saved version; default: the production label's."
    )
    draft: PreviewDraft | None = Field(default=None, description="Unsaved text (instead of `version`).")
    sample: PreviewSample
    n: int = Field(default=3, ge=1, le=128, description="Candidates to write (at most the server's max_n).")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    adapter: Annotated[str, StringConstraints(min_length=1, max_length=48)] | None = Field(
        default="default",
        description="LoRA adapter by name; `default`: the configured one; null: the base model.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> PreviewBody:
        if self.version is not None and self.draft is not None:
            raise ValueError("send either `version` or `draft`, not both")
        return self

    def sample_request(self, placement: str) -> CreativeRequest:
        """The generation request the preview runs (``k = n``: nothing is ranked away)."""
        return CreativeRequest(
            profile=self.sample.profile,
            product=self.sample.product,
            placement=placement,
            n=self.n,
            k=self.n,
            seed=self.seed,
            temperature=self.temperature,
            top_p=self.top_p,
            forbidden_words=self.sample.forbidden_words,
            adapter=self.adapter,
        )


class ConflictInfo(ErrorInfo):
    """A 409: the template or label changed meanwhile; ``current_version`` is where it is now."""

    type: str = "conflict"
    current_version: int | None = Field(
        default=None, description="The newest version (or the label's version) now; reload from it."
    )
