"""An experiment's policy versions: rows of ``policy_versions``, each with the live arms, the cutoff its
state was learned up to and (for the newest versions) that state; the periods between arm changes.

Moving an experiment to a new version locks its row first (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
serializes writers), checks nobody moved it meanwhile, then adds the version row and bumps the
experiment's ``policy_version``: every writer takes the locks in that order, so an arm change and the
background updater cannot deadlock, and a lost race is a :class:`VersionConflictError`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.attributes import set_committed_value

from core.database import utcnow
from experiments.db import ExperimentRow, PolicyVersionRow
from experiments.models import PolicyPeriod, PolicySpec

SETTLE = timedelta(seconds=10)  # the cutoff trails the clock by this: longer than a write transaction
KEPT_STATES = 2  # versions whose learned state stays stored (the current one and the one before)


class VersionConflictError(RuntimeError):
    """Another process moved the experiment to a new version first."""


def spec_of(row: ExperimentRow) -> PolicySpec:
    """The experiment's policy (experiments stored before policies existed: the fixed split)."""
    return PolicySpec.model_validate(row.policy_spec or {})


def live_arm_names(row: ExperimentRow) -> list[str]:
    """The arms still taking units, in their declared order."""
    return [
        arm["name"] for arm, pin in zip(row.arms, row.pinned, strict=True) if pin.get("retired_at") is None
    ]


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
        state=None,
        created_at=row.created_at,
    )


def version_row(session: Session, row: ExperimentRow) -> PolicyVersionRow:
    """The row of the experiment's current version (synthesized for experiments older than versions)."""
    found = session.get(PolicyVersionRow, (row.id, row.policy_version))
    if found is not None:
        return found
    synthesized = first_version(row)
    synthesized.version, synthesized.arms = row.policy_version, live_arm_names(row)
    return synthesized


def new_version(
    session: Session,
    row: ExperimentRow,
    reason: str,
    arms: list[str],
    learned: tuple[datetime, dict[str, Any] | None, tuple[int, int]],
) -> PolicyVersionRow:
    """Add the next version (``learned``: its cutoff, state and observed/rewarded counts) and move the
    experiment to it, unless another writer moved it first (:class:`VersionConflictError`); the caller's
    transaction commits. Older versions' states are dropped (only the newest are ever rebuilt)."""
    previous = row.policy_version
    current = session.scalar(
        select(ExperimentRow.policy_version).where(ExperimentRow.id == row.id).with_for_update()
    )
    if current != previous:
        raise VersionConflictError(f"experiment {row.id!r} moved past version {previous}")
    cutoff, state, (observations, rewards) = learned
    version = PolicyVersionRow(
        experiment_id=row.id,
        version=previous + 1,
        policy=spec_of(row).name,
        reason=reason,
        arms=arms,
        cutoff=cutoff,
        observations=observations,
        rewards=rewards,
        state=state,
        created_at=utcnow(),
    )
    session.add(version)
    session.execute(
        update(ExperimentRow)
        .where(ExperimentRow.id == row.id)
        .values(policy_version=version.version)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PolicyVersionRow)
        .where(
            PolicyVersionRow.experiment_id == row.id,
            PolicyVersionRow.version <= version.version - KEPT_STATES,
            PolicyVersionRow.state.is_not(None),
        )
        .values(state=None)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(row, "policy_version", version.version)
    return version


def periods(session: Session, row: ExperimentRow) -> list[PolicyPeriod]:
    """The experiment's spans between arm changes, oldest first; the learned updates within a span are
    counted in it (the versions' states are not read)."""
    columns = (
        PolicyVersionRow.version,
        PolicyVersionRow.policy,
        PolicyVersionRow.reason,
        PolicyVersionRow.arms,
        PolicyVersionRow.observations,
        PolicyVersionRow.rewards,
        PolicyVersionRow.created_at,
    )
    versions = session.scalars(
        select(PolicyVersionRow)
        .options(load_only(*columns))
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
                reason=version.reason,
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
