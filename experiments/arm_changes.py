"""Arms added to or retired from a running experiment: each change starts a new policy period (a version
that carries the state learned so far), and the exponential race moves only the units the change concerns.
An adaptive policy needs two live arms; the control is never retired."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.database import utcnow
from core.errors import ServiceError
from experiments.db import ExperimentRow
from experiments.models import MAX_ARMS, ExperimentArm, PinnedArm
from experiments.versions import live_arm_names, new_version, spec_of, version_row


class ArmChangeError(ServiceError):
    """An arm cannot be added or retired as asked."""

    status = 409
    code = "arm_change_refused"


class ArmNotFoundError(ServiceError, LookupError):
    """The experiment has no arm of this name."""

    status = 404
    code = "arm_not_found"


def changeable(session: Session, experiment_id: str) -> ExperimentRow:
    """The experiment's row, locked for the change (refused when stopped, or created before the race)."""
    row = session.scalar(select(ExperimentRow).where(ExperimentRow.id == experiment_id).with_for_update())
    if row is None:
        raise ServiceError(
            f"no experiment {experiment_id!r}", param="experiment", code="experiment_not_found"
        )
    if row.status != "running":
        raise ArmChangeError(f"experiment {experiment_id!r} is stopped", param="experiment")
    if row.assignment != "race":
        raise ArmChangeError(
            "this experiment was created before arms could change (its split is by cumulative weights, "
            "so a new arm would move other units); create a new experiment",
            param="experiment",
        )
    return row


def _carry(session: Session, row: ExperimentRow, reason: str) -> None:
    """A new version over the arms live now, with the current version's cutoff and learned state."""
    current = version_row(session, row)
    learned = (current.cutoff, current.state, (current.observations, current.rewards))
    new_version(session, row, reason, live_arm_names(row), learned)


def add_arm(session: Session, row: ExperimentRow, arm: ExperimentArm, pinned: PinnedArm) -> None:
    """Append ``arm`` (serving ``pinned``) and start a period."""
    if arm.name in [a["name"] for a in row.arms]:
        raise ArmChangeError(f"the experiment already has an arm {arm.name!r}", param="name")
    if len(row.arms) >= MAX_ARMS:
        raise ArmChangeError(f"an experiment has at most {MAX_ARMS} arms", param="name")
    row.arms = [*row.arms, arm.model_dump(mode="json")]
    row.pinned = [*row.pinned, pinned.model_dump(mode="json")]
    _carry(session, row, "arm_added")


def retire_arm(session: Session, row: ExperimentRow, arm_name: str) -> None:
    """Mark ``arm_name`` retired and start a period (nothing when it already is)."""
    names = [a["name"] for a in row.arms]
    if arm_name not in names:
        raise ArmNotFoundError(f"no arm {arm_name!r} in the experiment", param="arm")
    if arm_name == row.control:
        raise ArmChangeError("the control arm cannot be retired", param="arm")
    index = names.index(arm_name)
    if row.pinned[index].get("retired_at") is not None:
        return
    if spec_of(row).adaptive and len(live_arm_names(row)) <= 2:
        raise ArmChangeError(
            f"an adaptive policy ({spec_of(row).name}) needs two live arms; add one first", param="arm"
        )
    pinned = [dict(p) for p in row.pinned]
    pinned[index]["retired_at"] = utcnow().isoformat()
    row.pinned = pinned
    _carry(session, row, "arm_retired")
