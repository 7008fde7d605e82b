"""Serve a request inside an experiment: assign the unit's arm, write with what the arm pins, record the
decision. The writing itself is passed in (``generate``), so this package stays below the writer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from core.errors import ServiceError
from core.schema import CreativeRequest, CreativeResult
from experiments.models import ServedDecision
from experiments.store import Assignment, CreativeChoice, ExperimentStore
from experiments.variant_choice import variant_features

SAMPLING_FIELDS = ("n", "k", "temperature", "top_p", "seed")
_CHOICE = np.random.default_rng()  # draws the first variant (used on the event loop's thread only)


def arm_request(request: CreativeRequest, assignment: Assignment) -> CreativeRequest:
    """The request as the arm serves it: its pinned template and adapter, and its sampling where it sets
    one. A request that also sets one of them is refused (the experiment decides, not the caller)."""
    if request.template is not None:
        raise ServiceError(
            "the experiment's arm sets the template; leave it out", param="template", code="set_by_experiment"
        )
    if request.adapter != "default":
        raise ServiceError(
            "the experiment's arm sets the adapter; leave it out", param="adapter", code="set_by_experiment"
        )
    update: dict[str, Any] = {"template": assignment.pinned.template, "adapter": assignment.pinned.adapter}
    for name in SAMPLING_FIELDS:
        value = getattr(assignment.arm, name)
        if value is None:
            continue
        if getattr(request, name) is not None:
            raise ServiceError(
                f"the experiment's arm sets {name}; leave it out", param=name, code="set_by_experiment"
            )
        update[name] = value
    return request.model_copy(update=update)


async def serve_in_experiment(
    store: ExperimentStore,
    request: CreativeRequest,
    generate: Callable[[CreativeRequest], Awaitable[CreativeResult]],
) -> tuple[CreativeResult, ServedDecision]:
    """Assign, generate, then record the decision with one creative id per returned variant."""
    assert request.experiment is not None
    segment = request.profile.segment
    assignment = await asyncio.to_thread(
        store.assign, request.experiment, request.profile.id, request.placement, segment
    )
    result = await generate(arm_request(request, assignment))
    result, creatives = choose_first_variant(result, assignment, segment or "")
    decision = await asyncio.to_thread(store.record_decision, assignment, segment, creatives)
    return result, decision


def choose_first_variant(
    result: CreativeResult, assignment: Assignment, segment: str
) -> tuple[CreativeResult, list[CreativeChoice]]:
    """With the variant choice on, draw the variant to put first (the one to show) from its propensities,
    the others keep the ranker's order; each variant's features and propensity go with its creative id.
    Without it (or with fewer than two ranked variants) the ranker's order stands."""
    chooser, variants = assignment.variants, result.variants
    if chooser is None or len(variants) < 2 or any(v.score is None for v in variants):
        return result, [CreativeChoice() for _ in variants]
    features = [
        variant_features(v.score, v.repaired, assignment.arm.name, segment)
        for v in variants
        if v.score is not None
    ]
    propensities = chooser.propensities(features)
    first = int(_CHOICE.choice(len(variants), p=propensities))
    order = [first, *(i for i in range(len(variants)) if i != first)]
    chosen = result.model_copy(update={"variants": [variants[i] for i in order]})
    return chosen, [CreativeChoice(features[i], float(propensities[i])) for i in order]
