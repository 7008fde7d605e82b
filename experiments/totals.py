"""The readout's inputs, in SQL: per-arm sums of per-unit event counts (weighted by the logged
propensities when the allocation changed) and, for the sample-ratio check under a changing allocation,
each unit's first decision with the propensities it was drawn from."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import Session

from experiments.db import DecisionRow, EventRow
from experiments.models import ExperimentPublic, PolicyPeriod
from experiments.readout import ArmTotals, SampleRatioCounts

KINDS = ("impression", "click", "conversion")


def arm_totals(
    session: Session,
    experiment: ExperimentPublic,
    weighted: bool = False,
    versions: Sequence[tuple[int, int]] | None = None,
) -> list[ArmTotals]:
    """Per arm: assigned units and the per-unit sums (and squares, products) of their events; with
    ``weighted`` each decision's events count 1 ÷ its logged propensity and the estimate runs over all of
    the experiment's units (those with a decision in ``versions``, inclusive ranges of policy versions,
    when given)."""
    weight: Any = 1.0 / DecisionRow.propensity if weighted else literal(1)
    scope = [DecisionRow.experiment_id == experiment.id]
    if versions is not None:
        scope.append(or_(*(DecisionRow.policy_version.between(low, high) for low, high in versions)))
    per_unit = (
        select(
            DecisionRow.arm.label("arm"),
            DecisionRow.unit_hash.label("unit"),
            *(
                func.coalesce(func.sum(case((EventRow.type == kind, weight), else_=0)), 0).label(kind)
                for kind in KINDS
            ),
            *(
                func.coalesce(func.sum(case((EventRow.type == kind, 1), else_=0)), 0).label(f"{kind}_count")
                for kind in KINDS
            ),
        )
        .select_from(DecisionRow)
        .outerjoin(EventRow, EventRow.decision_id == DecisionRow.id)
        .where(*scope)
        .group_by(DecisionRow.arm, DecisionRow.unit_hash)
        .subquery()
    )
    i, c, v = per_unit.c.impression, per_unit.c.click, per_unit.c.conversion
    counts = (per_unit.c.impression_count, per_unit.c.click_count, per_unit.c.conversion_count)
    query = select(
        per_unit.c.arm,
        func.count(),
        *(func.sum(expr) for expr in (i, c, v, i * i, c * c, v * v, i * c, c * v)),
        *(func.sum(count) for count in counts),
    ).group_by(per_unit.c.arm)
    found: dict[str, list[Any]] = {row[0]: list(row[1:]) for row in session.execute(query)}
    everyone = None
    if weighted:
        everyone = int(
            session.scalar(select(func.count(func.distinct(DecisionRow.unit_hash))).where(*scope)) or 0
        )
    result = []
    for arm in experiment.arms:
        units, *raw = found.get(arm.name, [0] + [0] * 11)
        i1, c1, v1, i2, c2, v2, ic, cv = (float(x or 0) for x in raw[:8])
        events = (int(raw[8] or 0), int(raw[9] or 0), int(raw[10] or 0))
        result.append(
            ArmTotals(
                arm.name, arm.weight, int(units), i1, c1, v1, i2, c2, v2, ic, cv, everyone, events=events
            )
        )
    return result


def first_decisions(session: Session, experiment: ExperimentPublic) -> SampleRatioCounts:
    """Units by the arm of their first decision, and the expected counts: the sum over those decisions of
    each arm's logged propensity (a unit's first arm is an independent draw from them)."""
    ranked = (
        select(
            DecisionRow.arm.label("arm"),
            DecisionRow.propensity.label("propensity"),
            DecisionRow.propensities.label("propensities"),
            func.row_number()
            .over(partition_by=DecisionRow.unit_hash, order_by=(DecisionRow.created_at, DecisionRow.id))
            .label("n"),
        )
        .where(DecisionRow.experiment_id == experiment.id)
        .subquery()
    )
    observed: Counter[str] = Counter()
    expected: defaultdict[str, float] = defaultdict(float)
    rows = session.execute(select(ranked.c.arm, ranked.c.propensities).where(ranked.c.n == 1)).tuples()
    for arm, propensities in rows:
        observed[arm] += 1
        for name, p in (propensities or {arm: 1.0}).items():
            expected[name] += float(p)
    return SampleRatioCounts(dict(observed), dict(expected))


def live_versions(periods: Sequence[PolicyPeriod], arm: str) -> list[tuple[int, int]] | None:
    """The policy versions ``arm`` was live in, as inclusive ranges; None when it was live throughout."""
    ranges = [(p.first_version, p.last_version) for p in periods if arm in p.arms]
    return None if len(ranges) == len(periods) else ranges


def pair_totals(
    session: Session, experiment: ExperimentPublic, periods: Sequence[PolicyPeriod]
) -> dict[str, tuple[ArmTotals, ArmTotals]]:
    """For each arm not live throughout: it and the control, weighted, over only the versions it was live
    in (a lift compares the two over the same traffic, never the control's other periods)."""
    pairs = {}
    for arm in experiment.arms:
        versions = live_versions(periods, arm.name)
        if arm.name == experiment.control or versions is None:
            continue
        found = {t.name: t for t in arm_totals(session, experiment, weighted=True, versions=versions)}
        pairs[arm.name] = (found[arm.name], found[experiment.control])
    return pairs
