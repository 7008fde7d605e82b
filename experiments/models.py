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
PolicyName = Literal["fixed_split", "thompson", "thompson_per_context", "top_two", "lints"]
RewardName = Literal["click", "conversion"]
MAX_ARMS = 20
MAX_EVENTS_PER_BATCH = 1000
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ExperimentArm(Arm):
    """An arm of an online experiment: the batch's arm shape plus its share of the units."""

    weight: float = Field(
        default=1.0, gt=0.0, le=1000.0, description="Share of units, relative to the others."
    )


# each policy option: the policies that read it, its default
POLICY_OPTIONS: dict[str, tuple[tuple[str, ...], float]] = {
    "exploration": (("thompson", "thompson_per_context"), 0.5),
    "beta": (("top_two",), 0.5),
    "scale": (("lints",), 0.05),
}
DEFAULT_REWARD_WAIT = {"click": 600.0, "conversion": 86_400.0}


class PolicySpec(StrictModel):
    """How an experiment allocates units to arms (and, optionally, chooses the variant to show)."""

    name: PolicyName = Field(
        default="fixed_split",
        description="`fixed_split`: sticky, by the arms' weights (an A/B test). `thompson`: Beta-Bernoulli "
        "Thompson sampling on the reward; `thompson_per_context`: one posterior per segment; `top_two`: "
        "top-two Thompson (best-arm identification); `lints`: linear Thompson sampling over segment.",
    )
    floor: float = Field(
        default=0.01,
        ge=0.001,
        le=0.5,
        description="Share of traffic spread evenly over the arms whatever the policy learns: each arm keeps "
        "≥ floor ÷ arms (support for off-policy estimates). Adaptive policies only.",
    )
    exploration: float | None = Field(
        default=None, gt=0.0, le=4.0, description="Thompson: posterior variance × this (default 0.5)."
    )
    beta: float | None = Field(default=None, gt=0.0, lt=1.0, description="Top-two: leader share (0.5).")
    scale: float | None = Field(default=None, gt=0.0, le=10.0, description="lints: posterior scale (0.05).")
    reward: RewardName = Field(
        default="click", description="What a served decision earns: a click or a conversion on its creatives."
    )
    reward_wait_seconds: float | None = Field(
        default=None,
        ge=0.0,
        le=30 * 86_400.0,
        description="A decision teaches the policy only once this old, so late clicks and conversions "
        "count (default 600 s for clicks, 86,400 s for conversions).",
    )
    variant_choice: bool = Field(
        default=False,
        description="Learn which of the ranked variants to put first (the one to show) from clicks, "
        "starting from the ranker's order; each variant's propensity is logged.",
    )

    @model_validator(mode="after")
    def _options_of_the_policy(self) -> PolicySpec:
        for option, (policies, _) in POLICY_OPTIONS.items():
            if getattr(self, option) is not None and self.name not in policies:
                raise ValueError(f"{option}: only for the policies {list(policies)}, not {self.name!r}")
        return self

    @property
    def adaptive(self) -> bool:
        """Whether the arms' shares follow the rewards."""
        return self.name != "fixed_split"

    @property
    def learns(self) -> bool:
        """Whether anything follows the rewards (the arms' shares or the variant choice)."""
        return self.adaptive or self.variant_choice

    def option(self, name: str) -> float:
        """An option's value (its default when unset)."""
        value = getattr(self, name)
        return POLICY_OPTIONS[name][1] if value is None else float(value)

    @property
    def wait_seconds(self) -> float:
        """The reward wait window in seconds."""
        if self.reward_wait_seconds is None:
            return DEFAULT_REWARD_WAIT[self.reward]
        return self.reward_wait_seconds


class ExperimentBase(StrictModel):
    """What a campaign tool says about an experiment."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    placement: PlacementName
    control: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The arm every other arm's lift is measured against."
    )
    arms: list[ExperimentArm] = Field(
        min_length=1, max_length=MAX_ARMS, description="One arm is enough to learn the variant choice."
    )
    policy: PolicySpec = Field(default_factory=PolicySpec)

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
        if self.policy.adaptive and len(names) < 2:
            raise ValueError(f"arms: the policy {self.policy.name!r} allocates among two arms or more")
        return self


class ExperimentCreate(ExperimentBase):
    """``POST /v1/experiments``."""


class PinnedArm(BaseModel):
    """What an arm serves, fixed when the arm was added (a later label move changes nothing)."""

    name: str
    template: str = Field(description="`name@version` of the template version this arm serves.")
    adapter: str | None = Field(description="The adapter this arm serves; null: the base model.")
    propensity: float = Field(
        description="The share of units the weights give this arm (adaptive policies: their starting share)."
    )
    retired_at: datetime | None = Field(default=None, description="When the arm stopped taking units.")


class ExperimentPublic(ExperimentBase):
    """An experiment as stored."""

    id: str
    status: Status
    policy_version: int = Field(description="Bumped by every policy update and arm change (a new period).")
    pinned: list[PinnedArm]
    created_at: datetime
    created_by: str
    stopped_at: datetime | None = None


class PolicyPeriod(BaseModel):
    """A span of serving between arm changes: its policy, the arms it chose among, and its versions (the
    first, and one more per learned update)."""

    policy: PolicyName
    reason: Literal["created", "arm_added", "arm_retired"] = Field(description="What began the period.")
    arms: list[str]
    first_version: int
    last_version: int
    updates: int = Field(description="Versions learned from events within the period.")
    started_at: datetime
    ended_at: datetime | None = Field(description="Null: still serving.")
    observations: int = Field(description="Decisions with an impression its last version learned from.")
    rewards: int = Field(description="Of those, the rewarded ones.")


class ServedDecision(BaseModel):
    """The decision behind one response: report events with its id and a creative id."""

    id: str
    experiment: str
    arm: str
    propensity: float = Field(description="The probability the policy gave this arm for this unit.")
    policy_version: int
    first_variant_propensity: float | None = Field(
        default=None,
        description="With the variant choice: the probability the first variant (the one to show) had of "
        "being put first; null when the ranker's order stands.",
    )
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
    """Chi-square test of the assigned units against the intended split (adaptive: against the logged
    propensities of each unit's first decision)."""

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
    estimator: str = Field(description="How the rates are estimated (weighted when the allocation changed).")


class ExperimentReport(Readout):
    """``GET /v1/experiments/{id}/report``."""

    experiment: str
    status: Status
    computed_at: datetime
    policy: PolicySpec
    periods: list[PolicyPeriod] = Field(
        description="Each span between arm changes: the policy, its versions (one per update) and arms."
    )
