"""Request and response models shared by the CLI, the API and the batch runner.

One request shape everywhere: a profile, a product, a placement and sampling knobs. Every model forbids
unknown fields and bounds its sizes, so bad input fails validation with the offending field named.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.placements import PLACEMENTS

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160)]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]

MAX_SEED = 2**31 - 1
_PLACEMENT_NAMES: list[JsonValue] = [name for name in sorted(PLACEMENTS)]  # documented as an enum
PlacementName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(
        description="An ad surface from `GET /v1/placements`.", json_schema_extra={"enum": _PLACEMENT_NAMES}
    ),
]


def _is_number(annotation: Any) -> bool:
    """True for ``int``/``float`` annotations (optional or annotated), never for ``bool``."""
    if annotation in (int, float):
        return True
    return any(_is_number(arg) for arg in get_args(annotation) if arg is not bool)


class StrictModel(BaseModel):
    """Base for input models: unknown fields are an error, never silently dropped, and a JSON ``true`` or
    ``false`` is not a number (pydantic would read ``"temperature": false`` as greedy decoding)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _is_number(field.annotation):
            raise ValueError("expected a number, not a boolean")
        return value


class Profile(StrictModel):
    """Who will see the ad. Values are untrusted data: they are quoted into prompts, never executed."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    age: int | None = Field(default=None, ge=13, le=120)
    location: ShortText | None = None
    interests: list[ShortText] = Field(default_factory=list, max_length=20)
    recent_activity: list[Phrase] = Field(default_factory=list, max_length=20)
    segment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    language: LanguageTag = "en"


class Product(StrictModel):
    """What is advertised. Only these facts may appear as numbers, prices or percentages in the copy."""

    name: ShortText
    brand: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=600)] = ""
    features: list[ShortText] = Field(default_factory=list, max_length=20)
    price: float | None = Field(default=None, ge=0, le=1e9)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None


class CreativeRequest(StrictModel):
    """One generation request: the same shape for CLI rows, API bodies and batch rows.

    ``n`` and ``k`` default to settings; their upper bounds are settings too (checked by the writer).
    """

    profile: Profile
    product: Product
    placement: PlacementName
    n: int | None = Field(default=None, ge=1, le=128, description="Candidate variants to write.")
    k: int | None = Field(default=None, ge=1, le=128, description="Variants to return after ranking.")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    template: Annotated[str, StringConstraints(max_length=80)] | None = Field(
        default=None,
        description="Template as `name` (its production label), `name@3` or `name:staging`; "
        "default: the placement's template at production.",
    )
    forbidden_words: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=50, description="Added to the default brand-safety list."
    )
    adapter: Annotated[str, StringConstraints(min_length=1, max_length=48)] | None = Field(
        default="default",
        description="LoRA adapter by name (`GET /v1/adapters`); `default`: the configured default adapter; "
        "null: the base model.",
    )
    experiment: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = Field(
        default=None,
        description="An experiment id: the profile's id is assigned an arm (always the same one), the arm "
        "sets the template, adapter and sampling, and the response carries a decision to report events with.",
    )


class ErrorInfo(BaseModel):
    """OpenAI-style error object: ``{"message", "type", "param", "code"}``."""

    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None


class RankScore(BaseModel):
    """Why a variant ranked where it did (filled by the ranker)."""

    rank: int
    score: float
    profile_relevance: float
    product_relevance: float
    diversity_penalty: float
    relevance: float | None = Field(
        default=None, description="Weighted profile and product relevance, before the diversity penalty."
    )
    relevance_source: str | None = Field(
        default=None, description="What scored relevance: `embedding` (bi-encoder) or `cross_encoder`."
    )


class Variant(BaseModel):
    """One piece of ad copy that passed every check, with how it got there."""

    index: int = Field(description="Position among the candidates, in generation order.")
    fields: dict[str, str]
    valid_first_try: bool = Field(description="Passed every check as generated, without repair.")
    repaired: bool
    repairs: list[str] = Field(default_factory=list, description="What repair changed, per field.")
    attempt: int = Field(description="0 for the first round; >0 when this variant was regenerated.")
    seed: int | None
    output_tokens: int
    score: RankScore | None = None

    @property
    def text(self) -> str:
        """All fields joined, for embedding and metrics."""
        return " ".join(self.fields.values())


class RejectedVariant(BaseModel):
    """A candidate that failed validation or a check, and why (kept for analysis, never returned as copy)."""

    attempt: int
    seed: int | None
    reasons: list[str]
    raw: str


class GenerationStats(BaseModel):
    """Counts over all candidates written for one request."""

    requested: int
    returned: int
    valid_first_try: int
    repaired: int
    regenerated: int
    rejected: int
    rounds: int


class Usage(BaseModel):
    """Token counts, OpenAI-style."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Sampling(BaseModel):
    """The sampling a request ran with: its own values, else its template version's defaults, else the
    settings (``creative.sampling.effective_sampling``)."""

    n: int = Field(description="Candidates written.")
    k: int = Field(description="Variants kept after ranking.")
    temperature: float
    top_p: float


class TemplateRef(BaseModel):
    """Which template version produced the prompt, and how the request reached it."""

    name: str
    version: int
    ref: str = Field(default="", description="`name@version`: names exactly this version in a later request.")
    label: str | None = Field(
        default=None,
        description="The label the request resolved through (`production` for a bare name or no template); "
        "null when it named a version (`name@3`).",
    )

    @model_validator(mode="after")
    def _fill_ref(self) -> TemplateRef:
        if not self.ref:
            self.ref = f"{self.name}@{self.version}"
        return self


class CreativeResult(BaseModel):
    """The answer to one :class:`CreativeRequest`."""

    request_id: str
    placement: str
    template: TemplateRef
    model: str
    adapter: str | None = Field(
        default=None, description="The LoRA adapter that wrote the copy; null: base model."
    )
    seed: int | None
    k: int = Field(description="Variants to keep after ranking (all are kept when unranked).")
    variants: list[Variant]
    rejected: list[RejectedVariant]
    stats: GenerationStats
    usage: Usage
    sampling: Sampling
    timings: dict[str, float]
    ranked: bool = False
