"""Off-policy estimates over an experiment's stored logs: what "always this arm", another split, or the
policy as it stands now would have earned on the decisions already served.

The logged unit is a shown decision (one with an impression); its reward is the experiment's policy reward
(a click, or a conversion) on any of its creatives; its context is the unit's segment; its propensity is the
one logged when the arm was drawn. Standard errors are clustered by unit (a unit keeps its arm within a
policy version, so its decisions are not independent). Only shown decisions count, so the value is per
shown decision, the same reward the policies learn from. Estimates come from
:mod:`experiments.offpolicy` (IPS, SNIPS, doubly robust, with 95% intervals). A target that puts weight
where the logs had none (an arm added later, or retired) cannot be estimated without bias: ``support``
says on what share of decisions the target's arms all had a logged propensity, and the note warns below
100%.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.errors import ServiceError
from core.schema import StrictModel
from experiments import offpolicy
from experiments.db import DecisionRow, EventRow
from experiments.learning import ServingPolicy
from experiments.models import ExperimentPublic
from experiments.policies import Context
from experiments.stats import finite_or_none

MAX_DECISIONS = 2_000_000


class AlwaysTarget(BaseModel):
    """Serve one arm to everyone."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["always"]
    arm: Annotated[str, Field(min_length=1, max_length=64)]


class SplitTarget(BaseModel):
    """A fixed split by relative weights (arms left out get none)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["split"]
    weights: dict[str, Annotated[float, Field(ge=0.0, le=1000.0)]] = Field(min_length=1, max_length=20)


class CurrentTarget(BaseModel):
    """The experiment's policy as it stands now (its current version, per context)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["current"]


Target = Annotated[AlwaysTarget | SplitTarget | CurrentTarget, Field(discriminator="kind")]


class OffPolicyRequest(StrictModel):
    """``POST /v1/experiments/{id}/offpolicy``."""

    target: Target


class OffPolicyValue(BaseModel):
    """One estimator's value of the target: the reward per shown decision, with its 95% interval."""

    estimator: Literal["ips", "snips", "dr"]
    value: float | None
    std_error: float | None = Field(description="Null while it cannot be estimated (e.g. a single unit).")
    low: float | None
    high: float | None


class OffPolicyReport(BaseModel):
    """What the target would have earned per shown decision, estimated from the logs."""

    object: Literal["offpolicy_estimate"] = "offpolicy_estimate"
    experiment: str
    target: Target
    reward: str
    decisions: int = Field(description="Shown decisions in the logs.")
    logged_value: float | None = Field(description="What the logged policy earned per shown decision.")
    support: float | None = Field(
        description="Share of decisions where every arm of the target had a logged propensity."
    )
    estimates: list[OffPolicyValue]
    note: str | None = None


def _logged(
    session: Session, experiment: ExperimentPublic, reward: str
) -> tuple[list[str], list[str], list[dict[str, float]], list[float], list[str]]:
    """Per shown decision: segment, arm, every arm's logged propensity, reward, hashed unit."""
    events = (
        select(
            EventRow.decision_id.label("decision_id"),
            func.max(case((EventRow.type == "impression", 1), else_=0)).label("shown"),
            func.max(case((EventRow.type == reward, 1), else_=0)).label("earned"),
        )
        .where(EventRow.experiment_id == experiment.id)
        .group_by(EventRow.decision_id)
        .subquery()
    )
    per_decision = (
        select(
            DecisionRow.segment,
            DecisionRow.arm,
            DecisionRow.propensity,
            DecisionRow.propensities,
            events.c.earned,
            DecisionRow.unit_hash,
        )
        .join(events, events.c.decision_id == DecisionRow.id)
        .where(events.c.shown == 1)
        .order_by(DecisionRow.id)
        .limit(MAX_DECISIONS + 1)
    )
    rows = session.execute(per_decision).tuples().all()
    if len(rows) > MAX_DECISIONS:
        raise ServiceError(
            f"more than {MAX_DECISIONS:,} shown decisions: too many to replay in one request",
            param="experiment",
            code="too_many_decisions",
        )
    segments = [segment or "" for segment, *_ in rows]
    arms = [arm for _, arm, *_ in rows]
    logged = [dict(propensities or {arm: propensity}) for _, arm, propensity, propensities, *_ in rows]
    rewards = [float(row[4]) for row in rows]
    units = [row[5] for row in rows]
    return segments, arms, logged, rewards, units


def _target_rows(
    target: AlwaysTarget | SplitTarget | CurrentTarget,
    names: list[str],
    policy: ServingPolicy,
    placement: str,
) -> offpolicy.TargetPolicy:
    unknown = sorted(set(_named(target)) - set(names))
    if unknown:
        raise ServiceError(
            f"unknown arms {unknown}; the arms are {names}", param="target", code="unknown_arm"
        )
    if isinstance(target, AlwaysTarget):
        return offpolicy.always(names.index(target.arm), len(names))
    if isinstance(target, SplitTarget):
        total = sum(target.weights.values())
        if total <= 0:
            raise ServiceError("the split's weights sum to 0", param="target.weights")
        row = np.array([target.weights.get(name, 0.0) / total for name in names])
        return lambda context: row

    def current(context: str) -> np.ndarray:
        shares = policy.shares(Context(context, placement))
        return np.array([shares.get(name, 0.0) for name in names])

    return current


def _named(target: AlwaysTarget | SplitTarget | CurrentTarget) -> list[str]:
    if isinstance(target, AlwaysTarget):
        return [target.arm]
    return list(target.weights) if isinstance(target, SplitTarget) else []


def replay(
    session: Session,
    experiment: ExperimentPublic,
    policy: ServingPolicy,
    target: AlwaysTarget | SplitTarget | CurrentTarget,
) -> OffPolicyReport:
    """IPS, SNIPS and doubly robust estimates of ``target`` over the experiment's shown decisions."""
    names = [arm.name for arm in experiment.arms]
    pi = _target_rows(target, names, policy, experiment.placement)
    segments, arms, logged, rewards, units = _logged(session, experiment, experiment.policy.reward)
    base = {"experiment": experiment.id, "target": target, "reward": experiment.policy.reward}
    if len(arms) < 2:
        return OffPolicyReport(
            **base, decisions=len(arms), logged_value=None, support=None, estimates=[], note="too few yet"
        )
    logs = offpolicy.logs_from(
        [(s, names.index(a), p[a], r) for s, a, p, r in zip(segments, arms, logged, rewards, strict=True)],
        len(names),
        units,  # a unit's decisions share its sticky arm: standard errors by unit
    )
    wanted = logs.target_matrix(pi)
    loggable = np.array([[name in p and p[name] > 0 for name in names] for p in logged])
    support = float(np.mean(np.all(loggable | (wanted == 0), axis=1)))
    estimates = [
        OffPolicyValue(
            estimator=e.estimator,
            value=finite_or_none(e.value),
            std_error=finite_or_none(e.std_error),
            low=finite_or_none(e.low),
            high=finite_or_none(e.high),
        )
        for e in offpolicy.estimate_all(logs, pi)
    ]
    warnings = []
    if support < 1:
        warnings.append(
            f"the target serves arms the logs could not choose on {1 - support:.1%} of decisions (added or "
            "retired meanwhile): the estimates are biased there"
        )
    if isinstance(target, CurrentTarget):
        warnings.append("the current policy learned from these same logs: its estimate is optimistic")
    warning = "; ".join(warnings) or None
    return OffPolicyReport(
        **base,
        decisions=len(arms),
        logged_value=float(np.mean(rewards)),
        support=support,
        estimates=estimates,
        note=warning,
    )
