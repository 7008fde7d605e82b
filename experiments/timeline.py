"""An experiment's CTR over time: per arm, the cumulative rate and its interval at the end of each hour or
day, computed with the readout's own estimator from per-unit counts (one pass, sums updated as units'
counts grow); weighted by the logged propensities, over all units so far, when the allocation changed
(as the report is)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.database import utcnow
from experiments import stats
from experiments.db import DecisionRow, EventRow
from experiments.models import ExperimentPublic

Bucket = Literal["hour", "day"]
MAX_POINTS = 500


class TimelinePoint(BaseModel):
    """One arm's cumulative CTR at the end of one bucket."""

    at: datetime
    units: int
    impressions: int
    clicks: int
    ctr: float | None
    low: float | None
    high: float | None


class Timeline(BaseModel):
    """``GET /v1/experiments/{id}/timeline``: per arm, one point per bucket with events."""

    experiment: str
    bucket: Bucket
    weighted: bool = False
    arms: dict[str, list[TimelinePoint]]


def _floor(at: datetime, bucket: Bucket) -> datetime:
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if bucket == "day" else at


class _ArmSums:
    """Cumulative per-unit counts of one arm and the sums the ratio estimator needs."""

    def __init__(self) -> None:
        self.per_unit: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.units: set[str] = set()
        self.x = self.y = self.xx = self.yy = self.xy = 0.0
        self.impressions = self.clicks = 0

    def add(self, unit: str, impressions: float, clicks: float) -> None:
        self.impressions += impressions > 0
        self.clicks += clicks > 0
        counts = self.per_unit[unit]
        x0, y0 = counts
        x1, y1 = x0 + impressions, y0 + clicks
        self.x += x1 - x0
        self.y += y1 - y0
        self.xx += x1 * x1 - x0 * x0
        self.yy += y1 * y1 - y0 * y0
        self.xy += x1 * y1 - x0 * y0
        counts[:] = [x1, y1]

    def point(self, at: datetime, alpha: float, everyone: int | None) -> TimelinePoint:
        units = len(self.units) if everyone is None else everyone
        estimate = stats.ratio(stats.UnitSums(float(units), self.y, self.x, self.yy, self.xx, self.xy))
        low, high = stats.rate_interval(estimate, alpha)
        return TimelinePoint(
            at=at,
            units=len(self.units),
            impressions=self.impressions,
            clicks=self.clicks,
            ctr=stats.finite_or_none(estimate.value),
            low=stats.finite_or_none(low),
            high=stats.finite_or_none(high),
        )


def timeline(
    session: Session, experiment: ExperimentPublic, bucket: Bucket, alpha: float, weighted: bool = False
) -> Timeline:
    """Cumulative CTR per arm at the end of every bucket that saw a decision or an event (at most 500);
    ``weighted``: each event counts 1 ÷ its decision's logged propensity, over all units so far."""
    first_seen = session.execute(
        select(DecisionRow.arm, DecisionRow.unit_hash, func.min(DecisionRow.created_at))
        .where(DecisionRow.experiment_id == experiment.id)
        .group_by(DecisionRow.arm, DecisionRow.unit_hash)
    ).tuples()
    changes: dict[datetime, list[tuple[str, str, float, float]]] = defaultdict(list)
    for arm, unit, at in first_seen:
        changes[_floor(at, bucket)].append((arm, unit, 0.0, 0.0))
    events = session.execute(
        select(
            DecisionRow.arm, DecisionRow.unit_hash, DecisionRow.propensity, EventRow.type, EventRow.event_time
        )
        .join(DecisionRow, EventRow.decision_id == DecisionRow.id)
        .where(EventRow.experiment_id == experiment.id, EventRow.type.in_(("impression", "click")))
    ).tuples()
    for arm, unit, propensity, kind, at in events:
        w = 1.0 / propensity if weighted else 1.0
        changes[_floor(at, bucket)].append((arm, unit, w * (kind == "impression"), w * (kind == "click")))
    sums = {arm.name: _ArmSums() for arm in experiment.arms}
    points: dict[str, list[TimelinePoint]] = {arm.name: [] for arm in experiment.arms}
    step = timedelta(days=1) if bucket == "day" else timedelta(hours=1)
    everyone: set[str] = set()
    for start in sorted(changes):
        for arm, unit, impressions, clicks in changes[start]:
            everyone.add(unit)
            if arm in sums:
                sums[arm].units.add(unit)
                sums[arm].add(unit, impressions, clicks)
        end = min(start + step, utcnow())
        for name, arm_sums in sums.items():
            points[name].append(arm_sums.point(end, alpha, len(everyone) if weighted else None))
    for name in points:
        points[name] = points[name][-MAX_POINTS:]
    return Timeline(experiment=experiment.id, bucket=bucket, weighted=weighted, arms=points)
