"""Experiments' data shapes, declared once: the experiment (base → create / public), arms, decisions,
events and the readout. Inputs are strict (unknown fields are an error)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator, model_validator

from core.arms import Arm, cross_field_problems
from core.placements import PLACEMENTS
from core.schema import ErrorInfo, PlacementName, StrictModel

MetricName = Literal["ctr", "conversion_rate"]
EventType = Literal["impression", "click", "conversion"]
Verdict = Literal["winner", "loser", "inconclusive"]
Status = Literal["running", "stopped"]
MAX_ARMS = 20
MAX_EVENTS_PER_BATCH = 1000
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ExperimentArm(Arm):
    """An arm of an online experiment: the batch's arm shape plus its share of the units."""

    weight: float = Field(
        default=1.0, gt=0.0, le=1000.0, description="Share of units, relative to the others."
    )


class ExperimentBase(StrictModel):
    """What a campaign tool says about an experiment."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    placement: PlacementName
    control: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The arm every other arm's lift is measured against."
    )
    arms: list[ExperimentArm] = Field(min_length=2, max_length=MAX_ARMS)

    @field_validator("placement")
    @classmethod
    def _known_placement(cls, value: str) -> str:
        if value not in PLACEMENTS:
            raise ValueError(f"unknown placement {value!r}; known: {', '.join(sorted(PLACEMENTS))}")
        return value

    @field_validator("arms", mode="before")
    @classmethod
    def _arms_consistent(cls, value: Any) -> Any:
        if isinstance(value, list):
            problems = [
                f"arm #{index + 1}: {problem}"
                for index, raw in enumerate(value)
                for problem in cross_field_problems(raw)
            ]
            if problems:
                raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _names(self) -> ExperimentBase:
        names = [arm.name for arm in self.arms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"arms: duplicate arm names {duplicates}")
        if self.control not in names:
            raise ValueError(f"control: {self.control!r} is not one of the arms {names}")
        return self


class ExperimentCreate(ExperimentBase):
    """``POST /v1/experiments``."""


class PinnedArm(BaseModel):
    """What an arm serves, fixed when the experiment was created (a later label move changes nothing)."""

    name: str
    template: str = Field(description="`name@version` of the template version this arm serves.")
    adapter: str | None = Field(description="The adapter this arm serves; null: the base model.")
    propensity: float = Field(description="The probability a unit is assigned this arm.")


class ExperimentPublic(ExperimentBase):
    """An experiment as stored."""

    id: str
    status: Status
    policy: str = Field(description="How units are assigned to arms (`fixed_split`: sticky, by weight).")
    policy_version: int
    pinned: list[PinnedArm]
    created_at: datetime
    created_by: str
    stopped_at: datetime | None = None


class ServedDecision(BaseModel):
    """The decision behind one response: report events with its id and a creative id."""

    id: str
    experiment: str
    arm: str
    propensity: float
    creative_ids: list[str] = Field(description="One per returned variant, in the variants' order.")


class EventIn(StrictModel):
    """One impression, click or conversion of a served creative."""

    event_id: Identifier = Field(description="The client's id for this event: a resend is counted once.")
    decision_id: Identifier
    creative_id: Identifier
    type: EventType
    event_time: AwareDatetime = Field(description="When it happened (with a time zone).")
    value: float | None = Field(default=None, ge=0.0, le=1e9, description="Conversions only.")

    @model_validator(mode="after")
    def _value_only_on_conversions(self) -> EventIn:
        if self.value is not None and self.type != "conversion":
            raise ValueError("value: only a conversion carries a value")
        return self


class EventBatch(StrictModel):
    """``POST /v1/events``: up to 1,000 events; each item is validated on its own."""

    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_BATCH,
        description="Event objects (see EventIn); a bad item is rejected with its reason, the rest stored.",
    )


class EventResult(BaseModel):
    """What happened to one item of a batch."""

    index: int
    event_id: str | None = None
    status: Literal["accepted", "duplicate", "rejected"]
    error: ErrorInfo | None = None


class EventBatchResult(BaseModel):
    """The answer to a batch: counts and one result per item, in order."""

    object: Literal["event_batch"] = "event_batch"
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class RateReport(BaseModel):
    """A rate over units with its 95% (1 − alpha) interval; null where there is no data yet."""

    value: float | None
    low: float | None
    high: float | None


class LiftReport(RateReport):
    """Relative lift over the control: fixed-horizon and always-valid intervals and p-values."""

    always_valid_low: float | None
    always_valid_high: float | None
    p_value: float | None = Field(description="Fixed-horizon z-test: valid only for a single look.")
    always_valid_p_value: float | None = Field(description="Mixture SPRT: valid however often it is read.")
    adjusted_p_value: float | None = Field(default=None, description="Always-valid, BH-adjusted.")
    verdict: Verdict = "inconclusive"
    note: str | None = None


class ArmReport(BaseModel):
    """One arm's counts, rates, chance to be best and lift over the control."""

    name: str
    control: bool
    weight: float
    units: int
    impressions: int
    clicks: int
    conversions: int
    rates: dict[MetricName, RateReport]
    probability_best: dict[MetricName, float | None]
    lift: dict[MetricName, LiftReport] = Field(description="Empty for the control arm.")


class SampleRatioReport(BaseModel):
    """Chi-square test of the assigned units against the intended split."""

    p_value: float | None
    flagged: bool
    threshold: float
    expected_shares: dict[str, float]


class Readout(BaseModel):
    """The statistics of one experiment at one moment."""

    alpha: float
    tuning_units: int
    min_events: int = Field(description="Numerator events each arm needs before a lift is tested.")
    arms: list[ArmReport]
    sample_ratio: SampleRatioReport
    rule: str


class ExperimentReport(Readout):
    """``GET /v1/experiments/{id}/report``."""

    experiment: str
    status: Status
    computed_at: datetime
    policy: str
