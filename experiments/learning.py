"""An experiment's policy as served: learned in batches from the stored decisions and events, stored with
its version, and rebuilt from that row by any process.

A version's state is a function of the stored data up to its cutoff: every decision made at least the
reward wait window before it, with the events received by it (a decision with an impression is a trial;
one whose creatives also earned the reward, a success; for the variant choice, each variant put first and
shown, with its features and whether it earned the reward). :class:`PolicyUpdater` computes it once, in
the background, when enough events arrived since the last version (or enough time passed with some), and
stores it in the version's row; every process, and a restarted one, builds the policy from that row, so
they all serve the same state, and the Monte Carlo propensities (seeded by the version) are the same too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.database import utcnow
from experiments.db import CreativeRow, DecisionRow, EventRow, ExperimentRow, PolicyVersionRow
from experiments.models import ExperimentArm, PinnedArm, PolicySpec
from experiments.policies import Context, Policy, Tally, make_policy
from experiments.variant_choice import Row, VariantPolicy
from experiments.versions import SETTLE, VersionConflictError, new_version, spec_of, version_row

VARIANT_WINDOW = 100_000  # the variant choice learns from the newest shown variants (and follows drift)
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


def learn(session: Session, row: ExperimentRow, arms: tuple[str, ...], cutoff: datetime) -> dict[str, Any]:
    """The state a version learns at ``cutoff``: the live arms' tallies per segment and placement and, with
    the variant choice, its statistics; JSON-ready (floats round-trip exactly)."""
    spec = spec_of(row)
    tallies = arm_tallies(session, row.id, arms, spec.reward, cutoff, spec.wait_seconds)
    state: dict[str, Any] = {
        "tallies": [
            [arms[t.arm], t.context.segment, t.context.placement, t.trials, t.successes] for t in tallies
        ],
        "variants": None,
    }
    if spec.variant_choice:
        chooser = VariantPolicy()
        chooser.fit(variant_rows(session, row.id, spec.reward, cutoff, spec.wait_seconds), 1)
        state["variants"] = chooser.export_state()
    return state


def build(session: Session, row: ExperimentRow, version: PolicyVersionRow) -> ServingPolicy:
    """The policy of ``version`` from the state stored with it (version 1, or a version whose state was
    not kept: learned again from the stored events up to its cutoff)."""
    spec = spec_of(row)
    weights = {arm.name: arm.weight for arm, _ in live_arms(row)}
    arms = tuple(name for name in version.arms if name in weights)
    state = version.state
    if state is None:
        state = (
            {"tallies": [], "variants": None}
            if version.version == 1
            else learn(session, row, arms, version.cutoff)
        )
    variants = None
    if spec.variant_choice:
        variants = VariantPolicy()
        if state.get("variants") is not None:
            variants.load_state(state["variants"], version.version)
        variants.version = version.version
    learner = None
    if spec.adaptive:
        learner = make_policy(spec.name, len(arms), spec.floor, **_options(spec))
        index = {name: i for i, name in enumerate(arms)}
        tallies = [
            Tally(index[arm], Context(segment, placement), trials, successes)
            for arm, segment, placement, trials, successes in state["tallies"]
            if arm in index  # a retired arm's tallies stay behind
        ]
        learner.fit(tallies, version.version)
    return ServingPolicy(version.version, arms, spec, tuple(weights[a] for a in arms), learner, variants)


def variant_rows(
    session: Session, experiment_id: str, reward: str, cutoff: datetime, wait: float
) -> list[Row]:
    """The newest ``VARIANT_WINDOW`` variants the choice put first and that were shown, as learned at
    ``cutoff``: features and whether each earned the reward, oldest first (a fixed order)."""
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
        .order_by(DecisionRow.created_at.desc(), DecisionRow.id.desc())
        .limit(VARIANT_WINDOW)
    )
    rows = session.execute(query).tuples().all()
    return [(features, float(earned)) for features, earned in reversed(rows)]


def _options(spec: PolicySpec) -> dict[str, float]:
    wanted = {"thompson": "exploration", "thompson_per_context": "exploration", "top_two": "beta"}
    name = wanted.get(spec.name, "scale" if spec.name == "lints" else None)
    return {} if name is None else {name: spec.option(name)}


class PolicyBook:
    """The policies being served, by (experiment, version); a version missing here is built from its row,
    once (the other threads asking for it wait for that build)."""

    def __init__(self) -> None:
        self._policies: OrderedDict[tuple[str, int], ServingPolicy] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[str, int], threading.Lock] = {}

    def get(self, session: Session, row: ExperimentRow) -> ServingPolicy:
        """The experiment's current policy."""
        key = (row.id, row.policy_version)
        with self._lock:
            found = self._policies.get(key)
            if found is not None:
                self._policies.move_to_end(key)
                return found
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                found = self._policies.get(key)
            if found is None:
                found = build(session, row, version_row(session, row))
                with self._lock:
                    self._policies[key] = found
                    while len(self._policies) > CACHED_VERSIONS:
                        self._policies.popitem(last=False)
        with self._lock:
            self._building.pop(key, None)
        return found


@dataclass(frozen=True)
class UpdateRule:
    """When a new version is learned: ``events`` since the cutoff, or ``seconds`` since it with some."""

    events: int
    seconds: float


class PolicyUpdater:
    """Learns new versions of the running experiments' policies (adaptive arms or the variant choice) when
    :class:`UpdateRule` says so and what they would learn changed.

    A check that found nothing new (the new events are on decisions still inside the reward wait window)
    is not repeated for the same version for a while, so waiting costs no repeated scans.
    """

    def __init__(self, rule: UpdateRule):
        self.rule = rule
        self._unchanged: dict[str, tuple[int, datetime]] = {}

    def update_if_due(self, session: Session, experiment_id: str) -> int | None:
        """The new version number, or None (not due, nothing changed, or another process did it)."""
        row = session.get(ExperimentRow, experiment_id)
        if row is None or row.status != "running" or not spec_of(row).learns:
            return None
        current, now = version_row(session, row), utcnow()
        last = self._unchanged.get(row.id)
        recently = last is not None and (now - last[1]).total_seconds() < min(self.rule.seconds, 60.0)
        if last is not None and last[0] == row.policy_version and recently:
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
        arms = tuple(current.arms)
        state = learn(session, row, arms, cutoff)
        if state == (current.state or {"tallies": [], "variants": None}):
            self._unchanged[row.id] = (row.policy_version, now)
            return None
        counts = (
            int(sum(t[3] for t in state["tallies"])),
            int(sum(t[4] for t in state["tallies"])),
        )
        try:
            version = new_version(session, row, "update", list(arms), (cutoff, state, counts))
            session.commit()
        except (VersionConflictError, IntegrityError):  # another process learned this version first
            session.rollback()
            return None
        self._unchanged.pop(row.id, None)
        return version.version
