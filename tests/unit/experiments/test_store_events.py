"""The store and event ingestion on SQLite and on a real PostgreSQL: decisions, per-item event checks,
idempotent resends, the attribution window and the readout's totals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import ServiceError
from experiments import __main__ as cli
from experiments.db import DecisionRow
from experiments.events import ingest
from experiments.models import ExperimentPublic
from experiments.readout import ArmTotals
from experiments.settings import ExperimentSettings
from experiments.store import CreativeChoice, ExperimentNotFoundError, ExperimentStoppedError, ExperimentStore
from experiments.totals import arm_totals
from tests.unit.experiments.support import pinned, spec

SETTINGS = ExperimentSettings(attribution_window_days=7)


@pytest.fixture
def store(database_url: str) -> Iterator[ExperimentStore]:
    """An empty store on a fresh database."""
    opened = ExperimentStore.from_url(database_url)
    yield opened
    opened.close()


def event(
    decision: Any, kind: str, event_id: str, at: datetime | None = None, creative: int = 0
) -> dict[str, Any]:
    """One event as a client posts it."""
    return {
        "event_id": event_id,
        "decision_id": decision.id,
        "creative_id": decision.creative_ids[creative],
        "type": kind,
        "event_time": (at or datetime.now(UTC)).isoformat(),
    }


def arm_totals_of(store: ExperimentStore, experiment: ExperimentPublic) -> list[ArmTotals]:
    """The readout's unweighted per-arm totals."""
    with store.sessions() as session:
        return arm_totals(session, experiment)


def serve(store: ExperimentStore, experiment_id: str, unit: str, variants: int = 2) -> Any:
    """Assign ``unit`` and record a decision with ``variants`` creatives."""
    assignment = store.assign(experiment_id, unit, "google_search", "outdoor")
    return store.record_decision(assignment, "outdoor", [CreativeChoice()] * variants)


def test_decisions_are_sticky_and_record_what_the_arm_serves(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    first, again = serve(store, experiment.id, "user-1"), serve(store, experiment.id, "user-1")
    assert first.arm == again.arm and first.id != again.id and first.propensity == 0.5
    assert len(first.creative_ids) == 2 and not set(first.creative_ids) & set(again.creative_ids)
    with pytest.raises(ServiceError) as misplaced:
        store.assign(experiment.id, "user-1", "push", None)
    assert misplaced.value.param == "placement"
    store.stop(experiment.id)
    with pytest.raises(ExperimentStoppedError):
        store.assign(experiment.id, "user-1", "google_search", None)
    with pytest.raises(ExperimentNotFoundError):
        store.get("exp_0000000000000000")
    assert [e.id for e in store.list_all()] == [experiment.id]


def test_each_bad_item_gets_its_reason_and_the_rest_is_stored(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    decision = serve(store, experiment.id, "user-1")
    other = serve(store, experiment.id, "user-2")
    now = datetime.now(UTC)
    items = [
        event(decision, "impression", "e1", now),
        event(decision, "click", "e2", now + timedelta(seconds=5)),
        {**event(decision, "click", "e3"), "creative_id": other.creative_ids[0]},
        {**event(decision, "click", "e4"), "decision_id": "dec_nope"},
        event(decision, "click", "e5", now, creative=1),  # no impression of that creative
        event(decision, "impression", "e6", now - timedelta(hours=1)),  # before its decision
        event(decision, "impression", "e7", now + timedelta(hours=2)),
        {**event(decision, "impression", "e8"), "value": 3.0},
        {"event_id": "e9", "type": "click"},
        "not an object",
        event(decision, "impression", "e1", now),  # the same event again in the batch
    ]
    result = ingest(store, items, SETTINGS)
    codes = [r.error.code if r.error else r.status for r in result.results]
    assert codes == [
        "accepted",
        "accepted",
        "unknown_creative",
        "unknown_decision",
        "click_before_impression",
        "outside_attribution_window",
        "future_event",
        "malformed_event",
        "malformed_event",
        "malformed_event",
        "duplicate",
    ]
    assert result.results[8].error is not None and result.results[8].error.param == "events.8.decision_id"
    assert (result.accepted, result.duplicates, result.rejected) == (2, 1, 8)


def test_an_event_later_than_the_window_is_refused(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    decision = serve(store, experiment.id, "user-1")
    with store.sessions.begin() as session:  # the decision was served 8 days ago
        row = session.get(DecisionRow, decision.id)
        assert row is not None
        row.created_at = datetime.now(UTC) - timedelta(days=8)
    late = ingest(store, [event(decision, "impression", "late")], SETTINGS)
    assert late.results[0].error is not None and late.results[0].error.code == "outside_attribution_window"
    wider = ingest(
        store, [event(decision, "impression", "late")], ExperimentSettings(attribution_window_days=9)
    )
    assert wider.accepted == 1


def test_a_resent_tenth_is_counted_once(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    decisions = [serve(store, experiment.id, f"user-{i}") for i in range(50)]
    now = datetime.now(UTC)
    impressions = [event(d, "impression", f"imp-{d.id}", now) for d in decisions]
    clicks = [event(d, "click", f"click-{d.id}", now + timedelta(seconds=1)) for d in decisions]
    assert ingest(store, impressions + clicks, SETTINGS).accepted == 100
    resent = ingest(store, impressions[:5] + clicks[-5:], SETTINGS)  # 10% of the events, both kinds
    assert (resent.accepted, resent.duplicates, resent.rejected) == (0, 10, 0)
    totals = arm_totals_of(store, experiment)
    assert sum(a.impressions for a in totals) == 50 and sum(a.clicks for a in totals) == 50
    assert sum(a.units for a in totals) == 50


def test_the_report_reads_the_stored_events(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    now = datetime.now(UTC)
    items = []
    for i in range(40):
        d = serve(store, experiment.id, f"user-{i}")
        items += [event(d, "impression", f"i{i}", now), event(d, "impression", f"j{i}", now, creative=1)]
        if i % 4 == 0:
            items.append(event(d, "click", f"c{i}", now + timedelta(seconds=1)))
    ingest(store, items, SETTINGS)
    report = store.report(experiment.id)
    assert [arm.name for arm in report.arms] == ["a", "b"] and report.experiment == experiment.id
    assert sum(arm.units for arm in report.arms) == 40 and sum(arm.impressions for arm in report.arms) == 80
    assert sum(arm.clicks for arm in report.arms) == 10
    assert report.arms[1].lift["ctr"].note is not None  # 10 clicks: not tested yet


def test_the_cli_prints_the_report(
    store: ExperimentStore,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    serve(store, experiment.id, "user-1")
    monkeypatch.setenv("ADCREATIVE_EXPERIMENTS_DB_URL", database_url)
    assert cli.main(["report", experiment.id]) == 0
    text = capsys.readouterr().out
    assert f"experiment {experiment.id}" in text and "a (control): " in text and "sample ratio" in text
    assert cli.main(["report", experiment.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["experiment"] == experiment.id
    assert cli.main(["list"]) == 0 and experiment.id in capsys.readouterr().out
    assert cli.main(["report", "exp_0000000000000000"]) == 1
    assert "no experiment" in capsys.readouterr().err


def test_the_timeline_accumulates_per_arm(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    start = datetime.now(UTC) - timedelta(hours=3)
    items = []
    for i in range(12):
        d = serve(store, experiment.id, f"user-{i}")
        at = start + timedelta(hours=i % 3)
        items.append(event(d, "impression", f"i{i}", at))
        if i % 3 == 0:
            items.append(event(d, "click", f"c{i}", at + timedelta(minutes=1)))
    with store.sessions.begin() as session:  # decisions served three hours ago
        for row in session.scalars(select(DecisionRow)):
            row.created_at = start
    assert ingest(store, items, SETTINGS).accepted == 16
    line = store.timeline(experiment.id, "hour")
    points = [p for arm in line.arms.values() for p in arm]
    assert {len(arm) for arm in line.arms.values()} == {3}  # three hours with events
    finals = [arm[-1] for arm in line.arms.values()]
    assert sum(p.impressions for p in finals) == 12 and sum(p.clicks for p in finals) == 4
    assert sum(p.units for p in finals) == 12
    for arm in line.arms.values():
        assert [p.impressions for p in arm] == sorted(p.impressions for p in arm)  # cumulative
    assert all(p.low is None or p.low <= (p.ctr or 0) for p in points)
    totals = {t.name: t for t in arm_totals_of(store, store.get(experiment.id))}
    for name, arm in line.arms.items():  # the last point is the readout's rate
        assert arm[-1].impressions == totals[name].impressions and arm[-1].clicks == totals[name].clicks


def test_a_resend_is_a_duplicate_even_when_it_would_now_be_refused(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    decision = serve(store, experiment.id, "user-1")
    assert ingest(store, [event(decision, "impression", "once")], SETTINGS).accepted == 1
    later = datetime.now(UTC) + timedelta(days=1)  # the client's clock moved: the same event, resent
    resent = ingest(store, [event(decision, "impression", "once", later)], SETTINGS)
    assert [r.status for r in resent.results] == ["duplicate"]


def test_a_refused_impression_does_not_let_a_click_through(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "tester")
    decision = serve(store, experiment.id, "user-1")
    future = datetime.now(UTC) + timedelta(hours=2)
    result = ingest(
        store,
        [
            event(decision, "impression", "i", future),
            event(decision, "click", "c", future + timedelta(seconds=1)),
        ],
        SETTINGS,
    )
    codes = [r.error.code if r.error else r.status for r in result.results]
    assert codes == ["future_event", "future_event"]
    now = datetime.now(UTC)
    result = ingest(
        store,
        [event(decision, "impression", "i2", now - timedelta(hours=1)), event(decision, "click", "c2", now)],
        SETTINGS,
    )
    assert [r.error.code if r.error else r.status for r in result.results] == [
        "outside_attribution_window",
        "click_before_impression",
    ]
