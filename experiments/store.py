"""Experiments, decisions and the per-arm totals of their events, in SQL (SQLite or PostgreSQL).

Every write is one transaction: a decision and its creative ids land together or not at all, and so does a
batch of events (:mod:`experiments.events`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.database import make_engine, utcnow
from core.errors import ServiceError
from experiments import arm_changes, learning, migrate, replay, totals, versions
from experiments.assignment import assign_arm, new_salt, race_arm, unit_hash
from experiments.db import CreativeRow, DecisionRow, ExperimentRow
from experiments.models import (
    ExperimentArm,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentReport,
    PinnedArm,
    PolicyPeriod,
    ServedDecision,
)
from experiments.policies import Context
from experiments.readout import ReadoutOptions, readout
from experiments.timeline import Bucket, Timeline, timeline
from experiments.variant_choice import VariantPolicy
from experiments.versions import VersionConflictError

CHANGE_ATTEMPTS = 3


class ExperimentNotFoundError(ServiceError, LookupError):
    """No experiment has this id."""

    status = 404
    code = "experiment_not_found"


class ExperimentStoppedError(ServiceError):
    """The experiment no longer assigns units."""

    status = 409
    code = "experiment_stopped"


@dataclass(frozen=True)
class CreativeChoice:
    """What is stored with a served variant when the variant choice learns: its features and the
    probability it had of being put first. Empty when the ranker's order stands."""

    features: list[float] | None = None
    propensity: float | None = None


@dataclass(frozen=True)
class Assignment:
    """A unit's arm in an experiment: what to serve and what to record (every live arm's propensity
    in the unit's context, under the policy version that chose)."""

    experiment: ExperimentPublic
    arm: ExperimentArm
    pinned: PinnedArm
    unit_hash: str
    propensities: dict[str, float]
    policy_version: int
    variants: VariantPolicy | None = None

    @property
    def propensity(self) -> float:
        """The chosen arm's probability."""
        return self.propensities[self.arm.name]


def _public(row: ExperimentRow) -> ExperimentPublic:
    return ExperimentPublic(
        id=row.id,
        name=row.name,
        description=row.description,
        placement=row.placement,
        control=row.control,
        arms=[ExperimentArm.model_validate(arm) for arm in row.arms],
        status="stopped" if row.status == "stopped" else "running",
        policy=versions.spec_of(row),
        policy_version=row.policy_version,
        pinned=[PinnedArm.model_validate(arm) for arm in row.pinned],
        created_at=row.created_at,
        created_by=row.created_by,
        stopped_at=row.stopped_at,
    )


def allocation_changed(experiment: ExperimentPublic, periods: list[PolicyPeriod]) -> bool:
    """Whether the arms' shares moved during the experiment (an adaptive policy, or arms changed): then
    the readout weights by the logged propensities."""
    return experiment.policy.adaptive or len(periods) > 1


class ExperimentStore:
    """Experiments and their decisions in a SQL database (thread-safe; sync API)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.policies = learning.PolicyBook()

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
            policy=spec.policy.name,
            policy_spec=spec.policy.model_dump(mode="json"),
            assignment="race",
            policy_version=1,
            status="running",
            created_by=author,
            created_at=utcnow(),
        )
        with self.sessions.begin() as session:
            session.add(row)
            session.flush()
            session.add(versions.first_version(row))
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

    def assign(self, experiment_id: str, unit_id: str, placement: str, segment: str | None) -> Assignment:
        """The unit's arm under the current policy version (sticky within it), for a request on
        ``placement`` from a unit in ``segment``; refused when stopped or misplaced."""
        with self.sessions() as session:
            row = self._row(session, experiment_id)
            experiment, salt, scheme = _public(row), row.salt, row.assignment
            if experiment.status != "running":
                raise ExperimentStoppedError(f"experiment {experiment_id!r} is stopped", param="experiment")
            if placement != experiment.placement:
                raise ServiceError(
                    f"experiment {experiment_id!r} runs on placement {experiment.placement!r}, "
                    f"not {placement!r}",
                    param="placement",
                    code="placement_mismatch",
                )
            policy = self.policies.get(session, row)
        shares = policy.shares(Context(segment or "", placement))
        if scheme != "race":  # experiments from before the race keep their split
            names = [arm.name for arm in experiment.arms]
            name = names[assign_arm(salt, experiment.id, unit_id, [arm.weight for arm in experiment.arms])]
        else:
            name = race_arm(salt, experiment.id, unit_id, shares)
        index = [arm.name for arm in experiment.arms].index(name)
        return Assignment(
            experiment,
            experiment.arms[index],
            experiment.pinned[index],
            unit_hash(salt, experiment.id, unit_id),
            shares,
            policy.version,
            policy.variants,
        )

    def record_decision(
        self, assignment: Assignment, segment: str | None, creatives: list[CreativeChoice]
    ) -> ServedDecision:
        """Store the decision and one creative id per served variant (with the variant choice's features
        and propensities where it learns), in one transaction."""
        decision_id = "dec_" + secrets.token_hex(12)
        creative_ids = ["cr_" + secrets.token_hex(12) for _ in creatives]
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
                    propensity=assignment.propensity,
                    propensities=assignment.propensities,
                    policy=experiment.policy.name,
                    policy_version=assignment.policy_version,
                    created_at=utcnow(),
                )
            )
            session.flush()  # the decision before its creatives (PostgreSQL checks the foreign key per row)
            session.add_all(
                CreativeRow(
                    id=cid,
                    decision_id=decision_id,
                    position=i,
                    features=choice.features,
                    choice_propensity=choice.propensity,
                )
                for i, (cid, choice) in enumerate(zip(creative_ids, creatives, strict=True))
            )
        return ServedDecision(
            id=decision_id,
            experiment=experiment.id,
            arm=assignment.arm.name,
            propensity=assignment.propensity,
            policy_version=assignment.policy_version,
            first_variant_propensity=creatives[0].propensity if creatives else None,
            creative_ids=creative_ids,
        )

    def update_policies(self, updater: learning.PolicyUpdater) -> dict[str, int]:
        """Learn a new policy version for each running adaptive experiment that is due; {id: version}."""
        with self.sessions() as session:
            running = [
                row.id
                for row in session.scalars(select(ExperimentRow).where(ExperimentRow.status == "running"))
                if versions.spec_of(row).learns
            ]
        updated = {}
        for experiment_id in running:
            with self.sessions() as session:
                version = updater.update_if_due(session, experiment_id)
            if version is not None:
                updated[experiment_id] = version
        return updated

    def add_arm(self, experiment_id: str, arm: ExperimentArm, pinned: PinnedArm) -> ExperimentPublic:
        """Add an arm to a running experiment: a new policy period; no other unit moves but those the
        new arm wins."""
        return self._change(
            experiment_id, lambda session, row: arm_changes.add_arm(session, row, arm, pinned)
        )

    def retire_arm(self, experiment_id: str, arm_name: str) -> ExperimentPublic:
        """Stop assigning units to an arm (idempotent; its decisions and events stay in the readout): a
        new policy period; only that arm's units move."""
        return self._change(
            experiment_id, lambda session, row: arm_changes.retire_arm(session, row, arm_name)
        )

    def _change(
        self, experiment_id: str, change: Callable[[Session, ExperimentRow], None]
    ) -> ExperimentPublic:
        """Apply an arm change in one transaction, again when a policy update got in first."""
        for attempt in range(CHANGE_ATTEMPTS):
            try:
                with self.sessions.begin() as session:
                    self._row(session, experiment_id)  # 404 first
                    row = arm_changes.changeable(session, experiment_id)
                    change(session, row)
                    return _public(row)
            except (VersionConflictError, IntegrityError):
                if attempt == CHANGE_ATTEMPTS - 1:
                    raise ServiceError(
                        "the experiment changed meanwhile; retry", param="experiment", code="conflict"
                    ) from None
        raise AssertionError("unreachable")

    def periods(self, experiment_id: str) -> list[PolicyPeriod]:
        """The experiment's spans between arm changes, oldest first, each with its policy versions."""
        with self.sessions() as session:
            return versions.periods(session, self._row(session, experiment_id))

    def report(self, experiment_id: str, options: ReadoutOptions | None = None) -> ExperimentReport:
        """The experiment's readout now (weighted by the logged propensities when the allocation changed)."""
        periods = self.periods(experiment_id)
        with self.sessions() as session:
            experiment = _public(self._row(session, experiment_id))
            changed = allocation_changed(experiment, periods)
            arms = totals.arm_totals(session, experiment, weighted=changed)
            logged = totals.first_decisions(session, experiment) if changed else None
            pairs = totals.pair_totals(session, experiment, periods)
        result = readout(arms, experiment.control, options, logged, pairs)
        return ExperimentReport(
            **result.model_dump(),
            experiment=experiment.id,
            status=experiment.status,
            computed_at=utcnow(),
            policy=experiment.policy,
            periods=periods,
        )

    def offpolicy(self, experiment_id: str, target: replay.Target) -> replay.OffPolicyReport:
        """Off-policy estimates of ``target`` over the experiment's shown decisions."""
        with self.sessions() as session:
            row = self._row(session, experiment_id)
            experiment = _public(row)
            return replay.replay(session, experiment, self.policies.get(session, row), target)

    def timeline(self, experiment_id: str, bucket: Bucket, alpha: float = 0.05) -> Timeline:
        """Cumulative CTR per arm at the end of each hour or day (weighted as the report is)."""
        periods = self.periods(experiment_id)
        experiment = self.get(experiment_id)
        with self.sessions() as session:
            return timeline(session, experiment, bucket, alpha, allocation_changed(experiment, periods))
