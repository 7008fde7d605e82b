"""Experiments, decisions and the per-arm totals of their events, in SQL (SQLite or PostgreSQL).

Every write is one transaction: a decision and its creative ids land together or not at all, and so does a
batch of events (:mod:`experiments.events`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.database import make_engine, utcnow
from core.errors import ServiceError
from experiments import migrate
from experiments.assignment import assign_arm, new_salt, unit_hash
from experiments.db import CreativeRow, DecisionRow, EventRow, ExperimentRow
from experiments.models import (
    ExperimentArm,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentReport,
    PinnedArm,
    ServedDecision,
)
from experiments.readout import ArmTotals, ReadoutOptions, readout
from experiments.timeline import Bucket, Timeline, timeline

POLICY = "fixed_split"  # sticky HMAC assignment by the arms' weights


class ExperimentNotFoundError(ServiceError, LookupError):
    """No experiment has this id."""

    status = 404
    code = "experiment_not_found"


class ExperimentStoppedError(ServiceError):
    """The experiment no longer assigns units."""

    status = 409
    code = "experiment_stopped"


@dataclass(frozen=True)
class Assignment:
    """A unit's arm in an experiment: what to serve and what to record."""

    experiment: ExperimentPublic
    arm: ExperimentArm
    pinned: PinnedArm
    unit_hash: str


def _public(row: ExperimentRow) -> ExperimentPublic:
    return ExperimentPublic(
        id=row.id,
        name=row.name,
        description=row.description,
        placement=row.placement,
        control=row.control,
        arms=[ExperimentArm.model_validate(arm) for arm in row.arms],
        status="stopped" if row.status == "stopped" else "running",
        policy=row.policy,
        policy_version=row.policy_version,
        pinned=[PinnedArm.model_validate(arm) for arm in row.pinned],
        created_at=row.created_at,
        created_by=row.created_by,
        stopped_at=row.stopped_at,
    )


class ExperimentStore:
    """Experiments and their decisions in a SQL database (thread-safe; sync API)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, migrate_schema: bool = True) -> ExperimentStore:
        """Open the store at ``url``, first migrating its tables to the newest revision."""
        if migrate_schema:
            migrate.upgrade(url)
        return cls(make_engine(url))

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def _row(self, session: Session, experiment_id: str) -> ExperimentRow:
        row = session.get(ExperimentRow, experiment_id)
        if row is None:
            raise ExperimentNotFoundError(f"no experiment {experiment_id!r}", param="experiment")
        return row

    def create(self, spec: ExperimentCreate, pinned: list[PinnedArm], author: str) -> ExperimentPublic:
        """Store a new experiment whose arms serve ``pinned`` (one per arm, in order)."""
        row = ExperimentRow(
            id="exp_" + secrets.token_hex(8),
            name=spec.name,
            description=spec.description,
            placement=spec.placement,
            control=spec.control,
            arms=[arm.model_dump(mode="json") for arm in spec.arms],
            pinned=[arm.model_dump(mode="json") for arm in pinned],
            salt=new_salt(),
            policy=POLICY,
            policy_version=1,
            status="running",
            created_by=author,
            created_at=utcnow(),
        )
        with self.sessions.begin() as session:
            session.add(row)
        return _public(row)

    def list_all(self) -> list[ExperimentPublic]:
        """Every experiment, newest first."""
        with self.sessions() as session:
            rows = session.scalars(select(ExperimentRow).order_by(ExperimentRow.created_at.desc())).all()
            return [_public(row) for row in rows]

    def get(self, experiment_id: str) -> ExperimentPublic:
        """One experiment (404 when unknown)."""
        with self.sessions() as session:
            return _public(self._row(session, experiment_id))

    def stop(self, experiment_id: str) -> ExperimentPublic:
        """Stop assigning units (idempotent); its decisions and events stay and still count."""
        with self.sessions.begin() as session:
            row = self._row(session, experiment_id)
            if row.status != "stopped":
                row.status, row.stopped_at = "stopped", utcnow()
            return _public(row)

    def assign(self, experiment_id: str, unit_id: str, placement: str) -> Assignment:
        """The unit's arm (sticky), for a request on ``placement``; refused when stopped or misplaced."""
        with self.sessions() as session:
            row = self._row(session, experiment_id)
            experiment, salt = _public(row), row.salt
        if experiment.status != "running":
            raise ExperimentStoppedError(f"experiment {experiment_id!r} is stopped", param="experiment")
        if placement != experiment.placement:
            raise ServiceError(
                f"experiment {experiment_id!r} runs on placement {experiment.placement!r}, not {placement!r}",
                param="placement",
                code="placement_mismatch",
            )
        index = assign_arm(salt, experiment.id, unit_id, [arm.weight for arm in experiment.arms])
        return Assignment(
            experiment,
            experiment.arms[index],
            experiment.pinned[index],
            unit_hash(salt, experiment.id, unit_id),
        )

    def record_decision(self, assignment: Assignment, segment: str | None, variants: int) -> ServedDecision:
        """Store the decision and one creative id per served variant, in one transaction."""
        decision_id = "dec_" + secrets.token_hex(12)
        creative_ids = ["cr_" + secrets.token_hex(12) for _ in range(variants)]
        experiment = assignment.experiment
        with self.sessions.begin() as session:
            session.add(
                DecisionRow(
                    id=decision_id,
                    experiment_id=experiment.id,
                    arm=assignment.arm.name,
                    template_ref=assignment.pinned.template,
                    adapter=assignment.pinned.adapter,
                    unit_hash=assignment.unit_hash,
                    segment=segment,
                    placement=experiment.placement,
                    propensity=assignment.pinned.propensity,
                    policy=experiment.policy,
                    policy_version=experiment.policy_version,
                    created_at=utcnow(),
                )
            )
            session.flush()  # the decision before its creatives (PostgreSQL checks the foreign key per row)
            session.add_all(
                CreativeRow(id=cid, decision_id=decision_id, position=i) for i, cid in enumerate(creative_ids)
            )
        return ServedDecision(
            id=decision_id,
            experiment=experiment.id,
            arm=assignment.arm.name,
            propensity=assignment.pinned.propensity,
            creative_ids=creative_ids,
        )

    def arm_totals(self, experiment: ExperimentPublic) -> list[ArmTotals]:
        """Per arm: assigned units and the per-unit sums (and squares, products) of their events."""
        per_unit = (
            select(
                DecisionRow.arm.label("arm"),
                DecisionRow.unit_hash.label("unit"),
                *(
                    func.coalesce(func.sum(case((EventRow.type == kind, 1), else_=0)), 0).label(kind)
                    for kind in ("impression", "click", "conversion")
                ),
            )
            .select_from(DecisionRow)
            .outerjoin(EventRow, EventRow.decision_id == DecisionRow.id)
            .where(DecisionRow.experiment_id == experiment.id)
            .group_by(DecisionRow.arm, DecisionRow.unit_hash)
            .subquery()
        )
        i, c, v = per_unit.c.impression, per_unit.c.click, per_unit.c.conversion
        query = select(
            per_unit.c.arm,
            func.count(),
            *(func.sum(expr) for expr in (i, c, v, i * i, c * c, v * v, i * c, c * v)),
        ).group_by(per_unit.c.arm)
        with self.sessions() as session:
            found: dict[str, list[Any]] = {row[0]: list(row[1:]) for row in session.execute(query)}
        totals = []
        for arm in experiment.arms:
            units, *sums = found.get(arm.name, [0] + [0] * 8)
            totals.append(ArmTotals(arm.name, arm.weight, int(units), *(float(x or 0) for x in sums)))
        return totals

    def report(self, experiment_id: str, options: ReadoutOptions | None = None) -> ExperimentReport:
        """The experiment's readout now."""
        experiment = self.get(experiment_id)
        result = readout(self.arm_totals(experiment), experiment.control, options)
        return ExperimentReport(
            **result.model_dump(),
            experiment=experiment.id,
            status=experiment.status,
            computed_at=utcnow(),
            policy=experiment.policy,
        )

    def timeline(self, experiment_id: str, bucket: Bucket, alpha: float = 0.05) -> Timeline:
        """Cumulative CTR per arm at the end of each hour or day."""
        experiment = self.get(experiment_id)
        with self.sessions() as session:
            return timeline(session, experiment, bucket, alpha)
