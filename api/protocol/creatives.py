"""Models of ``POST /v1/creatives``: the writer's result plus, in an experiment, its decision."""

from __future__ import annotations

from pydantic import Field

from core.schema import CreativeResult
from experiments.models import ServedDecision


class ServedCreatives(CreativeResult):
    """The result, and the experiment's decision when the request named one."""

    decision: ServedDecision | None = Field(
        default=None,
        description="Set for a request in an experiment: report impressions, clicks and conversions with its "
        "`id` and the `creative_ids` (one per variant, in order) to POST /v1/events.",
    )
