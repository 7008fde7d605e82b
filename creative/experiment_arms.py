"""Pin an online experiment's arms when it is created: each arm's template version for the experiment's
placement and its adapter, checked exactly as the offline batch checks its arms file."""

from __future__ import annotations

from core.arms import cross_field_problems
from core.errors import ServiceError
from creative.adapters import AdapterRegistry
from creative.batch.arms import ArmsFileError, resolve_arms
from creative.settings import Settings
from experiments.models import ExperimentArm, ExperimentCreate, ExperimentPublic, PinnedArm
from prompts.refs import TemplateSource


class InvalidArmError(ServiceError):
    """An arm names a template, adapter or sampling the service cannot serve."""

    code = "invalid_arm"


def pin_arms(
    spec: ExperimentCreate, templates: TemplateSource, adapters: AdapterRegistry, settings: Settings
) -> list[PinnedArm]:
    """What each arm serves, fixed now (a later label move changes nothing); every problem is listed."""
    try:
        resolved = resolve_arms(spec.arms, templates, adapters, settings)
    except ArmsFileError as exc:
        raise InvalidArmError("; ".join(exc.problems), param="arms") from None
    total = sum(arm.weight for arm in spec.arms)
    pinned = []
    for index, (arm, found) in enumerate(zip(spec.arms, resolved, strict=True)):
        template = found.templates.get(spec.placement)
        if template is None:
            raise InvalidArmError(
                f"arm {arm.name!r}: its template does not serve the placement {spec.placement!r}",
                param=f"arms.{index}.template",
            )
        pinned.append(
            PinnedArm(name=arm.name, template=template, adapter=found.adapter, propensity=arm.weight / total)
        )
    return pinned


def pin_new_arm(
    experiment: ExperimentPublic,
    arm: ExperimentArm,
    templates: TemplateSource,
    adapters: AdapterRegistry,
    settings: Settings,
) -> PinnedArm:
    """What an arm added to a running experiment serves, checked like the arms it was created with."""
    problems = cross_field_problems(arm.model_dump())
    if problems:
        raise InvalidArmError("; ".join(problems), param=problems[0].split(":")[0])
    live = [a for a, p in zip(experiment.arms, experiment.pinned, strict=True) if p.retired_at is None]
    spec = ExperimentCreate(
        name=experiment.name,
        placement=experiment.placement,
        control=arm.name,
        arms=[arm],
    )
    try:
        (pinned,) = pin_arms(spec, templates, adapters, settings)
    except InvalidArmError as exc:  # name the add-arm body's own field, not the create body's
        field = (exc.param or "").removeprefix("arms.0.").removeprefix("arms")
        raise InvalidArmError(exc.message, param=field or None) from None
    share = arm.weight / (arm.weight + sum(a.weight for a in live))
    return pinned.model_copy(update={"propensity": share})
