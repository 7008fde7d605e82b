"""Ingest a batch of events: every item is checked on its own, the valid ones are stored in one
transaction, and a resent event (same ``event_id`` in the experiment) is counted once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.database import utcnow
from core.errors import validation_error_info
from core.schema import ErrorInfo
from experiments.db import CreativeRow, DecisionRow, EventRow
from experiments.models import EventBatchResult, EventIn, EventResult
from experiments.settings import ExperimentSettings
from experiments.store import ExperimentStore

_EVENT = TypeAdapter(EventIn)


class _Batch:
    """What the database knows about the batch's decisions, creatives, event ids and impressions."""

    def __init__(self, session: Session, events: list[EventIn]):
        decision_ids = {e.decision_id for e in events}
        creative_ids = {e.creative_id for e in events}
        self.decisions: dict[str, tuple[str, datetime]] = {
            row.id: (row.experiment_id, row.created_at)
            for row in session.execute(
                select(DecisionRow.id, DecisionRow.experiment_id, DecisionRow.created_at).where(
                    DecisionRow.id.in_(decision_ids)
                )
            )
        }
        self.creatives: dict[str, str] = {
            creative_id: decision_id
            for creative_id, decision_id in session.execute(
                select(CreativeRow.id, CreativeRow.decision_id).where(CreativeRow.id.in_(creative_ids))
            ).tuples()
        }
        experiments = {experiment for experiment, _ in self.decisions.values()}
        self.seen: set[tuple[str, str]] = set(
            session.execute(  # (experiment_id, event_id) is the unique index: both columns, so it is used
                select(EventRow.experiment_id, EventRow.event_id).where(
                    EventRow.experiment_id.in_(experiments),
                    EventRow.event_id.in_({e.event_id for e in events}),
                )
            ).tuples()
        )
        self.first_impression: dict[str, datetime] = {}
        for creative_id, at in session.execute(
            select(EventRow.creative_id, EventRow.event_time).where(
                EventRow.creative_id.in_(creative_ids), EventRow.type == "impression"
            )
        ).tuples():
            self.note_impression(creative_id, at)

    def note_impression(self, creative_id: str, at: datetime) -> None:
        """Remember the earliest impression of a creative."""
        known = self.first_impression.get(creative_id)
        if known is None or at < known:
            self.first_impression[creative_id] = at


def _problem(
    event: EventIn, index: int, batch: _Batch, settings: ExperimentSettings, now: datetime
) -> ErrorInfo | None:
    """Why the event cannot be stored, or None."""
    where = f"events.{index}"
    decision = batch.decisions.get(event.decision_id)
    if decision is None:
        return ErrorInfo(message="unknown decision", param=f"{where}.decision_id", code="unknown_decision")
    if batch.creatives.get(event.creative_id) != event.decision_id:
        return ErrorInfo(
            message="unknown creative for this decision",
            param=f"{where}.creative_id",
            code="unknown_creative",
        )
    skew = timedelta(seconds=settings.clock_skew_seconds)
    if event.event_time > now + skew:
        return ErrorInfo(
            message="event_time is in the future", param=f"{where}.event_time", code="future_event"
        )
    window = timedelta(days=settings.attribution_window_days)
    if not decision[1] - skew <= event.event_time <= decision[1] + window:
        return ErrorInfo(
            message="event_time is outside the attribution window "
            f"({settings.attribution_window_days:g} days after the decision)",
            param=f"{where}.event_time",
            code="outside_attribution_window",
        )
    if event.type != "impression":
        first = batch.first_impression.get(event.creative_id)
        if first is None or first > event.event_time:
            return ErrorInfo(
                message=f"a {event.type} needs an earlier impression of the same creative",
                param=f"{where}.type",
                code=f"{event.type}_before_impression",
            )
    return None


def _parse(items: Sequence[Any]) -> list[EventIn | ErrorInfo]:
    parsed: list[EventIn | ErrorInfo] = []
    for index, item in enumerate(items):
        try:
            parsed.append(_EVENT.validate_python(item))
        except ValidationError as exc:
            parsed.append(
                validation_error_info(exc, prefix=("events", index)).model_copy(
                    update={"code": "malformed_event"}
                )
            )
    return parsed


def ingest(store: ExperimentStore, items: Sequence[Any], settings: ExperimentSettings) -> EventBatchResult:
    """Check each item, store the valid ones in one transaction and say what happened to each."""
    now = utcnow()
    parsed = _parse(items)
    events = [item for item in parsed if isinstance(item, EventIn)]
    results: list[EventResult] = []
    rows: list[dict[str, Any]] = []
    with store.sessions.begin() as session:
        batch = _Batch(session, events)
        for index, item in enumerate(parsed):  # a click may follow its impression within the same batch
            if not isinstance(item, EventIn) or item.type != "impression":
                continue
            if _problem(item, index, batch, settings, now) is None:
                batch.note_impression(item.creative_id, item.event_time)
        for index, item in enumerate(parsed):
            if isinstance(item, ErrorInfo):
                results.append(EventResult(index=index, status="rejected", error=item))
                continue
            decision = batch.decisions.get(item.decision_id)
            if decision is not None and (decision[0], item.event_id) in batch.seen:  # a resend: counted once
                results.append(EventResult(index=index, event_id=item.event_id, status="duplicate"))
                continue
            problem = _problem(item, index, batch, settings, now)
            if problem is not None:
                results.append(
                    EventResult(index=index, event_id=item.event_id, status="rejected", error=problem)
                )
                continue
            experiment_id = batch.decisions[item.decision_id][0]
            batch.seen.add((experiment_id, item.event_id))
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "decision_id": item.decision_id,
                    "creative_id": item.creative_id,
                    "event_id": item.event_id,
                    "type": item.type,
                    "event_time": item.event_time,
                    "received_at": now,
                    "value": item.value,
                }
            )
            results.append(EventResult(index=index, event_id=item.event_id, status="accepted"))
        if rows:
            session.execute(_insert_ignoring_duplicates(session), rows)
    return EventBatchResult(
        accepted=sum(r.status == "accepted" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )


def _insert_ignoring_duplicates(session: Session) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: a resend racing this batch in another request is stored once."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(EventRow).on_conflict_do_nothing(index_elements=["experiment_id", "event_id"])
