"""An experiment's policy as served: rebuilt from the stored decisions and events, versioned, updated in
batches.

A policy version is a row of ``policy_versions``: the live arms and a cutoff. Its state is a function of
the stored data alone: every decision made at least the reward wait window before the cutoff, with the
events received by the cutoff (a decision with an impression is a trial; one whose creatives also earned the
reward, a success). So any process, and the same process after a restart, rebuilds exactly the same state,
and the Monte Carlo propensities (seeded by the version) are the same too. A new version is written when
enough events arrived since the cutoff, or enough time passed with some; the cutoff trails the clock by a
few seconds so a transaction still in flight cannot land behind it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.database import utcnow
from experiments.db import CreativeRow, DecisionRow, EventRow, ExperimentRow, PolicyVersionRow
from experiments.models import ExperimentArm, PinnedArm, PolicyPeriod, PolicySpec
from experiments.policies import Context, Policy, Tally, make_policy
from experiments.variant_choice import Row, VariantPolicy

SETTLE = timedelta(seconds=10)  # the cutoff trails the clock by this: longer than any write transaction
CACHED_VERSIONS = 256


@dataclass(frozen=True)
class ServingPolicy:
    """One version of an experiment's policy: each live arm's share for a context."""

    version: int
    arms: tuple[str, ...]
    spec: PolicySpec
    weights: tuple[float, ...]
    learner: Policy | None  # None: the fixed split
    variants: VariantPolicy | None = None  # which ranked variant goes first; None: the ranker's order

    def shares(self, context: Context) -> dict[str, float]:
        """Each live arm's probability for ``context`` (summing to 1)."""
        if self.learner is None:
            total = sum(self.weights)
            return {arm: weight / total for arm, weight in zip(self.arms, self.weights, strict=True)}
        probabilities = self.learner.propensities(context)
        return {arm: float(p) for arm, p in zip(self.arms, probabilities, strict=True)}


def spec_of(row: ExperimentRow) -> PolicySpec:
    """The experiment's policy (experiments stored before policies existed: the fixed split)."""
    return PolicySpec.model_validate(row.policy_spec or {})


def live_arms(row: ExperimentRow) -> list[tuple[ExperimentArm, PinnedArm]]:
    """The arms still taking units, in their declared order."""
    pairs = zip(row.arms, row.pinned, strict=True)
    return [
        (ExperimentArm.model_validate(arm), PinnedArm.model_validate(pinned))
        for arm, pinned in pairs
        if pinned.get("retired_at") is None
    ]


def arm_tallies(
    session: Session, experiment_id: str, arms: tuple[str, ...], reward: str, cutoff: datetime, wait: float
) -> list[Tally]:
    """Per live arm × segment: decisions shown (an impression) and rewarded, as the policy learns them at
    ``cutoff``; sorted, so a rebuild folds them in the same order."""
    per_decision = (
        select(
            DecisionRow.arm.label("arm"),
            DecisionRow.segment.label("segment"),
            DecisionRow.placement.label("placement"),
            func.max(case((EventRow.type == "impression", 1), else_=0)).label("shown"),
            func.max(case((EventRow.type == reward, 1), else_=0)).label("earned"),
        )
        .join(EventRow, and_(EventRow.decision_id == DecisionRow.id, EventRow.received_at <= cutoff))
        .where(
            DecisionRow.experiment_id == experiment_id,
            DecisionRow.created_at <= cutoff - timedelta(seconds=wait),
            DecisionRow.arm.in_(arms),
        )
        .group_by(DecisionRow.id, DecisionRow.arm, DecisionRow.segment, DecisionRow.placement)
        .subquery()
    )
    c = per_decision.c
    query = (
        select(c.arm, c.segment, c.placement, func.sum(c.shown), func.sum(c.shown * c.earned))
        .group_by(c.arm, c.segment, c.placement)
        .order_by(c.arm, c.segment, c.placement)
    )
    index = {arm: i for i, arm in enumerate(arms)}
    return [
        Tally(index[arm], Context(segment or "", placement), float(shown or 0), float(earned or 0))
        for arm, segment, placement, shown, earned in session.execute(query).tuples()
        if shown
    ]


def version_row(session: Session, row: ExperimentRow) -> PolicyVersionRow:
    """The row of the experiment's current version (synthesized for experiments older than versions)."""
    found = session.get(PolicyVersionRow, (row.id, row.policy_version))
    if found is not None:
        return found
    names = [arm.name for arm, _ in live_arms(row)]
    return PolicyVersionRow(
        experiment_id=row.id,
        version=row.policy_version,
        policy=row.policy,
        reason="created",
        arms=names,
        cutoff=row.created_at,
        observations=0,
        rewards=0,
        created_at=row.created_at,
    )


def build(session: Session, row: ExperimentRow, version: PolicyVersionRow) -> ServingPolicy:
    """The policy of ``version``, its state rebuilt from the stored events up to its cutoff."""
    spec = spec_of(row)
    weights = {arm.name: arm.weight for arm, _ in live_arms(row)}
    arms = tuple(name for name in version.arms if name in weights)
    variants = None
    if spec.variant_choice:
        variants = VariantPolicy()
        rows = variant_rows(session, row.id, spec.reward, version.cutoff, spec.wait_seconds)
        variants.fit(rows, version.version)
    learner = None
    if spec.adaptive:
        learner = make_policy(spec.name, len(arms), spec.floor, **_options(spec))
        tallies = arm_tallies(session, row.id, arms, spec.reward, version.cutoff, spec.wait_seconds)
        learner.fit(tallies, version.version)
    return ServingPolicy(version.version, arms, spec, tuple(weights[a] for a in arms), learner, variants)


def variant_rows(
    session: Session, experiment_id: str, reward: str, cutoff: datetime, wait: float
) -> list[Row]:
    """Every variant the choice put first and that was shown, as learned at ``cutoff``: its features and
    whether it earned the reward; in decision order, so a rebuild folds them in the same order."""
    events = (
        select(
            EventRow.creative_id.label("creative_id"),
            func.max(case((EventRow.type == "impression", 1), else_=0)).label("shown"),
            func.max(case((EventRow.type == reward, 1), else_=0)).label("earned"),
        )
        .where(EventRow.experiment_id == experiment_id, EventRow.received_at <= cutoff)
        .group_by(EventRow.creative_id)
        .subquery()
    )
    query = (
        select(CreativeRow.features, events.c.earned)
        .join(DecisionRow, CreativeRow.decision_id == DecisionRow.id)
        .join(events, events.c.creative_id == CreativeRow.id)
        .where(
            DecisionRow.experiment_id == experiment_id,
            DecisionRow.created_at <= cutoff - timedelta(seconds=wait),
            CreativeRow.position == 0,
            CreativeRow.choice_propensity.is_not(None),
            events.c.shown == 1,
        )
        .order_by(DecisionRow.id)
    )
    return [(features, float(earned)) for features, earned in session.execute(query).tuples()]


def _options(spec: PolicySpec) -> dict[str, float]:
    wanted = {"thompson": "exploration", "thompson_per_context": "exploration", "top_two": "beta"}
    name = wanted.get(spec.name, "scale" if spec.name == "lints" else None)
    return {} if name is None else {name: spec.option(name)}


class PolicyBook:
    """The policies being served, by (experiment, version); a version missing here is rebuilt."""

    def __init__(self) -> None:
        self._policies: OrderedDict[tuple[str, int], ServingPolicy] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, row: ExperimentRow) -> ServingPolicy:
        """The experiment's current policy."""
        key = (row.id, row.policy_version)
        with self._lock:
            found = self._policies.get(key)
            if found is not None:
                self._policies.move_to_end(key)
                return found
        built = build(session, row, version_row(session, row))
        with self._lock:
            self._policies[key] = built
            while len(self._policies) > CACHED_VERSIONS:
                self._policies.popitem(last=False)
        return built


class VersionConflictError(RuntimeError):
    """Another process moved the experiment to a new version first."""


def new_version(
    session: Session,
    row: ExperimentRow,
    reason: str,
    arms: list[str],
    observations: tuple[int, int] = (0, 0),
    cutoff: datetime | None = None,
) -> PolicyVersionRow:
    """Add the next version and move the experiment to it, only if no other process did meanwhile
    (:class:`VersionConflictError`, or ``IntegrityError`` at commit); the caller's transaction commits."""
    now, previous = utcnow(), row.policy_version
    version = PolicyVersionRow(
        experiment_id=row.id,
        version=previous + 1,
        policy=spec_of(row).name,
        reason=reason,
        arms=arms,
        cutoff=cutoff or now - SETTLE,
        observations=observations[0],
        rewards=observations[1],
        created_at=now,
    )
    session.add(version)
    claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ExperimentRow)
        .where(ExperimentRow.id == row.id, ExperimentRow.policy_version == previous)
        .values(policy_version=version.version)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise VersionConflictError(f"experiment {row.id!r} moved past version {previous}")
    set_committed_value(row, "policy_version", version.version)
    return version


def first_version(row: ExperimentRow) -> PolicyVersionRow:
    """Version 1 of a new experiment (nothing learned yet)."""
    return PolicyVersionRow(
        experiment_id=row.id,
        version=1,
        policy=row.policy,
        reason="created",
        arms=[arm["name"] for arm in row.arms],
        cutoff=row.created_at,
        observations=0,
        rewards=0,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class UpdateRule:
    """When a new version is learned: ``events`` since the cutoff, or ``seconds`` since it with some."""

    events: int
    seconds: float


class PolicyUpdater:
    """Learns new versions of the running adaptive experiments' policies when :class:`UpdateRule` says.

    A check whose tallies did not change (the new events are on decisions still inside the reward wait
    window) is not repeated for the same version for a while, so waiting costs no repeated queries.
    """

    def __init__(self, rule: UpdateRule):
        self.rule = rule
        self._unchanged: dict[tuple[str, int], datetime] = {}

    def update_if_due(self, session: Session, experiment_id: str) -> int | None:
        """The new version number, or None (not due, nothing changed, or another process did it)."""
        row = session.get(ExperimentRow, experiment_id)
        if row is None or row.status != "running" or not spec_of(row).learns:
            return None
        current, now = version_row(session, row), utcnow()
        last = self._unchanged.get((row.id, row.policy_version))
        if last is not None and (now - last).total_seconds() < min(self.rule.seconds, 60.0):
            return None
        cutoff = now - SETTLE
        fresh = session.scalar(  # settled events only: a newer one could not be learned from yet
            select(func.count())
            .select_from(EventRow)
            .where(
                EventRow.experiment_id == row.id,
                EventRow.received_at > current.cutoff,
                EventRow.received_at <= cutoff,
            )
        )
        age = (now - current.created_at).total_seconds()
        if not fresh or (fresh < self.rule.events and age < self.rule.seconds):
            return None
        spec, arms = spec_of(row), tuple(current.arms)
        tallies = arm_tallies(session, row.id, arms, spec.reward, cutoff, spec.wait_seconds)
        counts = (int(sum(t.trials for t in tallies)), int(sum(t.successes for t in tallies)))
        if counts == (current.observations, current.rewards):
            self._unchanged[(row.id, row.policy_version)] = now
            return None
        try:
            version = new_version(session, row, "update", list(arms), counts, cutoff)
            session.commit()
        except (VersionConflictError, IntegrityError):  # another process learned this version first
            session.rollback()
            return None
        return version.version


def periods(session: Session, row: ExperimentRow) -> list[PolicyPeriod]:
    """The experiment's spans between arm changes, oldest first; the learned updates within a span are
    counted in it."""
    versions = session.scalars(
        select(PolicyVersionRow)
        .where(PolicyVersionRow.experiment_id == row.id)
        .order_by(PolicyVersionRow.version)
    ).all() or [version_row(session, row)]
    found: list[PolicyPeriod] = []
    for version in versions:
        if version.reason == "update" and found:
            last = found[-1]
            last.last_version, last.updates = version.version, last.updates + 1
            last.observations, last.rewards = version.observations, version.rewards
            continue
        if found:
            found[-1].ended_at = version.created_at
        found.append(
            PolicyPeriod(
                policy=version.policy,
                reason="created" if version.reason == "update" else version.reason,
                arms=list(version.arms),
                first_version=version.version,
                last_version=version.version,
                updates=0,
                started_at=version.created_at,
                ended_at=None,
                observations=version.observations,
                rewards=version.rewards,
            )
        )
    found[-1].ended_at = row.stopped_at
    return found
