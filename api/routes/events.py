"""``POST /v1/events``: impressions, clicks and conversions of served creatives, in batches of up to 1,000.

Each item is checked on its own (a bad one gets its reason, the others are stored in one transaction);
a resent ``event_id`` is counted once. Scope ``events:write``. The route has its own body limit
(``ADCREATIVE_EVENTS_MAX_BODY_BYTES``), above the default one.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import EventsWriteKey, StateDep
from api.openapi import error_doc
from experiments.events import ingest
from experiments.models import EventBatch, EventBatchResult

router = APIRouter(prefix="/v1", tags=["experiments"])
EVENTS_PATH = "/v1/events"


@router.post(
    "/events",
    response_model=EventBatchResult,
    responses={
        400: error_doc("Not a batch (e.g. more than 1,000 events); nothing was stored."),
        401: error_doc("Missing, invalid or revoked API key."),
        403: error_doc("The key lacks the `events:write` scope."),
        413: error_doc("Body over the events limit; nothing was stored."),
    },
)
def post_events(body: EventBatch, state: StateDep, _: EventsWriteKey) -> EventBatchResult:
    """Store the valid events of the batch; the answer says, per item, accepted, duplicate or rejected."""
    return ingest(state.experiments, body.events, state.settings.experiments)
