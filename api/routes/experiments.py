"""Online experiments over HTTP: create, list, read, stop, add and retire arms, the readout, the policy's
periods and off-policy estimates.

Reads need ``experiments:read``; creating, stopping and changing arms ``experiments:write``. The store is
synchronous (SQLAlchemy), so the routes are plain ``def`` (FastAPI runs them in its thread pool).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import ExperimentsReadKey, ExperimentsWriteKey, StateDep, author_of
from api.openapi import error_doc
from api.protocol.listings import ExperimentList
from creative.experiment_arms import pin_arms, pin_new_arm
from experiments.models import (
    ExperimentArm,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentReport,
    PolicyPeriod,
)
from experiments.readout import ReadoutOptions
from experiments.replay import OffPolicyReport, OffPolicyRequest
from experiments.timeline import Bucket, Timeline

router = APIRouter(prefix="/v1", tags=["experiments"])

ExperimentPath = Annotated[str, Path(pattern=r"^exp_[0-9a-f]{16}$", description="An experiment id.")]
ArmPath = Annotated[str, Path(min_length=1, max_length=64, description="An arm's name.")]


_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("Invalid parameter; `param` names it."),
    401: error_doc("Missing, invalid or revoked API key."),
    403: error_doc("The key lacks the scope."),
    404: error_doc("No such experiment."),
}


@router.post("/experiments", status_code=201, response_model=ExperimentPublic, responses=_READ_ERRORS)
def create_experiment(body: ExperimentCreate, state: StateDep, key: ExperimentsWriteKey) -> ExperimentPublic:
    """Create a running experiment: each arm's template version and adapter are pinned now."""
    pinned = pin_arms(body, state.templates, state.adapters, state.settings.generation)
    return state.experiments.create(body, pinned, author_of(key))


@router.get("/experiments", response_model=ExperimentList, responses=_READ_ERRORS)
def list_experiments(state: StateDep, _: ExperimentsReadKey) -> ExperimentList:
    """Every experiment, newest first."""
    return ExperimentList(data=state.experiments.list_all())


@router.get("/experiments/{experiment_id}", response_model=ExperimentPublic, responses=_READ_ERRORS)
def get_experiment(experiment_id: ExperimentPath, state: StateDep, _: ExperimentsReadKey) -> ExperimentPublic:
    """One experiment, with what each arm serves."""
    return state.experiments.get(experiment_id)


@router.post("/experiments/{experiment_id}/stop", response_model=ExperimentPublic, responses=_READ_ERRORS)
def stop_experiment(
    experiment_id: ExperimentPath, state: StateDep, _: ExperimentsWriteKey
) -> ExperimentPublic:
    """Stop assigning units (idempotent); served decisions keep collecting events."""
    return state.experiments.stop(experiment_id)


_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_READ_ERRORS,
    404: error_doc("No such experiment (or arm)."),
    409: error_doc("Stopped, the control arm, a duplicate name, or an experiment whose split cannot change."),
}


@router.post(
    "/experiments/{experiment_id}/arms",
    status_code=201,
    response_model=ExperimentPublic,
    responses=_CHANGE_ERRORS,
)
def add_arm(
    experiment_id: ExperimentPath, body: ExperimentArm, state: StateDep, _: ExperimentsWriteKey
) -> ExperimentPublic:
    """Add an arm to a running experiment (pinned now): a new policy period; the only units that move
    are those the new arm wins."""
    experiment = state.experiments.get(experiment_id)
    pinned = pin_new_arm(experiment, body, state.templates, state.adapters, state.settings.generation)
    return state.experiments.add_arm(experiment_id, body, pinned)


@router.post(
    "/experiments/{experiment_id}/arms/{arm}/retire",
    response_model=ExperimentPublic,
    responses=_CHANGE_ERRORS,
)
def retire_arm(
    experiment_id: ExperimentPath, arm: ArmPath, state: StateDep, _: ExperimentsWriteKey
) -> ExperimentPublic:
    """Stop assigning units to an arm (idempotent; not the control): a new policy period; only its units
    move. Its decisions and events stay in the readout."""
    return state.experiments.retire_arm(experiment_id, arm)


@router.get("/experiments/{experiment_id}/periods", response_model=list[PolicyPeriod], responses=_READ_ERRORS)
def policy_periods(
    experiment_id: ExperimentPath, state: StateDep, _: ExperimentsReadKey
) -> list[PolicyPeriod]:
    """The spans between arm changes, oldest first: the policy, the arms, and how many versions it learned."""
    return state.experiments.periods(experiment_id)


@router.get("/experiments/{experiment_id}/report", response_model=ExperimentReport, responses=_READ_ERRORS)
def experiment_report(
    experiment_id: ExperimentPath, state: StateDep, _: ExperimentsReadKey
) -> ExperimentReport:
    """Per arm: units, events, rates with intervals over units, lift over the control (fixed and
    always-valid), P(best), the sample-ratio check and the winners; under an adaptive policy (or after
    arm changes) the rates are weighted by the logged propensities (`estimator` says how)."""
    options = ReadoutOptions.from_settings(state.settings.experiments)
    return state.experiments.report(experiment_id, options)


@router.post("/experiments/{experiment_id}/offpolicy", response_model=OffPolicyReport, responses=_READ_ERRORS)
def offpolicy_estimate(
    experiment_id: ExperimentPath, body: OffPolicyRequest, state: StateDep, _: ExperimentsReadKey
) -> OffPolicyReport:
    """What another policy would have earned per shown decision, from the logs: `always` one arm, a fixed
    `split`, or the `current` policy; IPS, self-normalized IPS and doubly robust with 95% intervals."""
    return state.experiments.offpolicy(experiment_id, body.target)


@router.get("/experiments/{experiment_id}/timeline", response_model=Timeline, responses=_READ_ERRORS)
def experiment_timeline(
    experiment_id: ExperimentPath,
    state: StateDep,
    _: ExperimentsReadKey,
    bucket: Annotated[Bucket, Query(description="`hour` or `day`.")] = "hour",
) -> Timeline:
    """Per arm, the cumulative CTR and its interval at the end of each hour or day (for the page's chart)."""
    return state.experiments.timeline(experiment_id, bucket, state.settings.experiments.experiment_alpha)
