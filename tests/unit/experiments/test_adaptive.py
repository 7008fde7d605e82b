"""Adaptive policies in the store (SQLite and PostgreSQL): logged propensities, sticky assignment within a
version, batched updates from stored events with a reward wait window, state rebuilt after a restart, arms
added and retired without moving other units, and the weighted readout with its logged-propensity SRM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, select, update

from core.errors import ServiceError
from experiments.arm_changes import ArmChangeError, ArmNotFoundError
from experiments.db import DecisionRow, EventRow, ExperimentRow, PolicyVersionRow
from experiments.events import ingest
from experiments.learning import PolicyUpdater, UpdateRule
from experiments.models import ExperimentArm, PinnedArm, ServedDecision
from experiments.readout import PAIRED_NOTE, WEIGHTED
from experiments.replay import AlwaysTarget, CurrentTarget, SplitTarget
from experiments.settings import ExperimentSettings
from experiments.store import CreativeChoice, ExperimentStore
from experiments.variant_choice import variant_features
from tests.unit.experiments.support import pinned, spec

SETTINGS = ExperimentSettings(attribution_window_days=7)
ARMS = ("a", "b", "c")


@pytest.fixture
def store(database_url: str) -> Iterator[ExperimentStore]:
    """An empty store on a fresh database."""
    opened = ExperimentStore.from_url(database_url)
    yield opened
    opened.close()


def three_arms(policy: dict[str, Any]) -> Any:
    """A three-arm experiment spec with ``policy``."""
    arms = [{"name": name, "template": "google_search@1"} for name in ARMS]
    return spec(arms=arms, policy=policy)


def serve(store: ExperimentStore, experiment_id: str, unit: str, segment: str = "hikers") -> ServedDecision:
    """Assign ``unit`` and record a decision with one creative."""
    assignment = store.assign(experiment_id, unit, "google_search", segment)
    return store.record_decision(assignment, segment, [CreativeChoice()])


def show(store: ExperimentStore, decision: ServedDecision, clicked: bool) -> None:
    """Report an impression (and a click) of the decision's creative."""
    now = datetime.now(UTC)
    items = [_event(decision, "impression", now)]
    if clicked:
        items.append(_event(decision, "click", now + timedelta(seconds=1)))
    assert ingest(store, items, SETTINGS).accepted == len(items)


def _event(decision: ServedDecision, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"{kind}-{decision.id}",
        "decision_id": decision.id,
        "creative_id": decision.creative_ids[0],
        "type": kind,
        "event_time": at.isoformat(),
    }


def backdate(store: ExperimentStore, experiment_id: str, seconds: float) -> None:
    """Move the experiment's decisions, events and versions ``seconds`` into the past."""
    shift = timedelta(seconds=seconds)
    with store.sessions.begin() as session:
        for row in session.scalars(select(DecisionRow).where(DecisionRow.experiment_id == experiment_id)):
            row.created_at -= shift
        for event in session.scalars(select(EventRow).where(EventRow.experiment_id == experiment_id)):
            event.received_at -= shift
            event.event_time -= shift
        for version in session.scalars(
            select(PolicyVersionRow).where(PolicyVersionRow.experiment_id == experiment_id)
        ):
            version.created_at -= shift
            version.cutoff -= shift


def test_thompson_learns_in_batches_from_stored_events_and_survives_a_restart(
    store: ExperimentStore, database_url: str
) -> None:
    floor = 0.03
    experiment = store.create(
        three_arms({"name": "thompson", "floor": floor, "reward_wait_seconds": 0}), pinned(ARMS), "t"
    )
    decisions = [serve(store, experiment.id, f"user-{i}") for i in range(150)]
    for decision in decisions:
        show(store, decision, clicked=decision.arm == "c")
    with store.sessions() as session:
        logged = session.scalars(select(DecisionRow).where(DecisionRow.experiment_id == experiment.id)).all()
    for row in logged:
        assert row.propensities is not None and set(row.propensities) == set(ARMS)
        assert sum(row.propensities.values()) == pytest.approx(1.0)
        assert min(row.propensities.values()) >= floor / 3 - 1e-12
        assert row.propensity == row.propensities[row.arm] and row.policy_version == 1
    assert {d.arm for d in decisions} == set(ARMS)  # version 1 knows nothing: every arm is served
    again = serve(store, experiment.id, "user-0")
    assert again.arm == decisions[0].arm and again.propensity == decisions[0].propensity  # sticky

    updater = PolicyUpdater(UpdateRule(events=100, seconds=3600))
    assert store.update_policies(updater) == {}  # the events are younger than the cutoff's settling
    backdate(store, experiment.id, 60)
    assert store.update_policies(updater) == {experiment.id: 2}
    assert store.update_policies(updater) == {}  # nothing new since
    learned = store.assign(experiment.id, "newcomer", "google_search", "hikers")
    assert learned.policy_version == 2 and learned.propensities["c"] > 0.9
    assert min(learned.propensities.values()) >= floor / 3 - 1e-12

    restarted = ExperimentStore.from_url(database_url)  # a new process: its state rebuilt from the tables
    try:
        rebuilt = restarted.assign(experiment.id, "newcomer", "google_search", "hikers")
        assert (rebuilt.arm, rebuilt.propensities, rebuilt.policy_version) == (
            learned.arm,
            learned.propensities,
            learned.policy_version,
        )
    finally:
        restarted.close()
    (period,) = store.periods(experiment.id)
    assert (period.first_version, period.last_version, period.updates) == (1, 2, 1)
    assert (period.observations, period.rewards) == (150, sum(d.arm == "c" for d in decisions))


def test_decisions_inside_the_reward_wait_window_teach_nothing_yet(store: ExperimentStore) -> None:
    experiment = store.create(
        three_arms({"name": "thompson", "reward_wait_seconds": 3600}), pinned(ARMS), "t"
    )
    for i in range(50):
        show(store, serve(store, experiment.id, f"user-{i}"), clicked=True)
    backdate(store, experiment.id, 60)
    updater = PolicyUpdater(UpdateRule(events=10, seconds=3600))
    assert store.update_policies(updater) == {}  # due by count, but every decision is still waiting
    backdate(store, experiment.id, 3600)
    assert store.update_policies(updater) == {}  # an unchanged check is not repeated for a minute
    assert store.update_policies(PolicyUpdater(UpdateRule(events=10, seconds=3600))) == {experiment.id: 2}


def test_arms_added_and_retired_move_only_their_own_units(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "t")  # fixed split a / b
    units = [f"user-{i}" for i in range(600)]

    def arms_now() -> dict[str, str]:
        return {u: store.assign(experiment.id, u, "google_search", None).arm.name for u in units}

    before = arms_now()
    store.add_arm(experiment.id, ExperimentArm(name="c", template="google_search@1"), _pin("c", 1 / 3))
    added = arms_now()
    moved = [u for u in units if added[u] != before[u]]
    assert moved and all(added[u] == "c" for u in moved)
    assert 0.27 < len(moved) / len(units) < 0.40  # the new arm's share, 1/3

    store.retire_arm(experiment.id, "b")
    retired = arms_now()
    assert all(retired[u] == added[u] for u in units if added[u] != "b")
    assert "b" not in retired.values()
    with pytest.raises(ArmChangeError):
        store.retire_arm(experiment.id, "a")  # the control
    with pytest.raises(ArmNotFoundError):
        store.retire_arm(experiment.id, "z")
    with pytest.raises(ArmChangeError):
        store.add_arm(experiment.id, ExperimentArm(name="c", template="google_search@1"), _pin("c", 0.5))
    reasons = [(p.reason, p.arms, p.first_version) for p in store.periods(experiment.id)]
    assert reasons == [
        ("created", ["a", "b"], 1),
        ("arm_added", ["a", "b", "c"], 2),
        ("arm_retired", ["a", "c"], 3),
    ]
    assert store.get(experiment.id).pinned[1].retired_at is not None


def _pin(name: str, share: float) -> PinnedArm:
    return PinnedArm(name=name, template="google_search@1", adapter="house", propensity=share)


def test_an_experiment_from_before_the_race_keeps_its_split_and_its_arms(store: ExperimentStore) -> None:
    experiment = store.create(spec(), pinned(), "t")
    with store.sessions.begin() as session:
        session.execute(
            update(ExperimentRow).where(ExperimentRow.id == experiment.id).values(assignment="weighted_cdf")
        )
    assert serve(store, experiment.id, "user-1").propensity == 0.5
    with pytest.raises(ArmChangeError, match="created before arms could change"):
        store.add_arm(experiment.id, ExperimentArm(name="c", template="google_search@1"), _pin("c", 1 / 3))


def test_the_adaptive_readout_is_weighted_and_checks_the_logged_split(store: ExperimentStore) -> None:
    experiment = store.create(
        three_arms({"name": "thompson", "floor": 0.3, "reward_wait_seconds": 0}), pinned(ARMS), "t"
    )
    rates, luck = {"a": 0.2, "b": 0.3, "c": 0.5}, np.random.default_rng(11)
    decisions = [serve(store, experiment.id, f"user-{i}") for i in range(150)]
    for decision in decisions:
        show(store, decision, clicked=luck.random() < rates[decision.arm])
    backdate(store, experiment.id, 60)
    store.update_policies(PolicyUpdater(UpdateRule(events=1, seconds=1)))
    later = [serve(store, experiment.id, f"late-{i}") for i in range(150)]
    for decision in later:
        show(store, decision, clicked=luck.random() < rates[decision.arm])
    assert len({d.propensity for d in decisions + later}) > 3  # the weights really differ
    report = store.report(experiment.id)
    assert report.estimator == WEIGHTED and len(report.periods) == 1
    assert sum(arm.impressions for arm in report.arms) == 300  # counted, not weighted
    for arm in report.arms:  # the SQL's weighting equals a decision-by-decision computation
        assert arm.rates["ctr"].value == pytest.approx(_hajek(store, experiment.id, arm.name))
    assert not report.sample_ratio.flagged
    chart = store.timeline(experiment.id, "day")
    assert chart.weighted
    for arm in report.arms:  # the chart's last point is the report's estimate and interval
        last = chart.arms[arm.name][-1]
        assert (last.ctr, last.high) == pytest.approx((arm.rates["ctr"].value, arm.rates["ctr"].high))

    with store.sessions.begin() as session:  # lose the c units' decisions: the logged split no longer holds
        session.execute(
            delete(DecisionRow).where(DecisionRow.experiment_id == experiment.id, DecisionRow.arm == "c")
        )
    assert store.report(experiment.id).sample_ratio.flagged


def _hajek(store: ExperimentStore, experiment_id: str, arm: str) -> float:
    """Σ clicks ÷ p over Σ impressions ÷ p, decision by decision (the readout does it in SQL)."""
    with store.sessions() as session:
        rows = session.scalars(select(DecisionRow).where(DecisionRow.experiment_id == experiment_id)).all()
        kinds = {(e.decision_id, e.type) for e in session.scalars(select(EventRow)).all()}
    weighted_clicks = sum(1 / r.propensity for r in rows if r.arm == arm and (r.id, "click") in kinds)
    weighted_shows = sum(1 / r.propensity for r in rows if r.arm == arm and (r.id, "impression") in kinds)
    return weighted_clicks / weighted_shows


def test_offpolicy_estimates_over_the_stored_logs(store: ExperimentStore) -> None:
    experiment = store.create(
        three_arms({"name": "thompson", "floor": 0.3, "reward_wait_seconds": 0}), pinned(ARMS), "t"
    )
    assert store.offpolicy(experiment.id, AlwaysTarget(kind="always", arm="c")).estimates == []
    for i in range(400):
        decision = serve(store, experiment.id, f"user-{i}")
        show(store, decision, clicked=decision.arm == "c")
    always_c = store.offpolicy(experiment.id, AlwaysTarget(kind="always", arm="c"))
    assert always_c.decisions == 400 and always_c.support == 1.0 and always_c.note is None
    values = {e.estimator: e.value for e in always_c.estimates}
    assert values["snips"] == pytest.approx(1.0) and values["dr"] == pytest.approx(1.0, abs=0.05)
    assert values["ips"] == pytest.approx(1.0, abs=0.25)  # unbiased but noisy: Σ w·r ÷ n
    half = store.offpolicy(experiment.id, SplitTarget(kind="split", weights={"a": 1, "c": 1}))
    assert {e.estimator: e.value for e in half.estimates}["snips"] == pytest.approx(0.5, abs=0.1)
    current = store.offpolicy(experiment.id, CurrentTarget(kind="current"))
    assert current.logged_value is not None and 0.2 < current.logged_value < 0.5
    assert {e.estimator: e.value for e in current.estimates}["snips"] == pytest.approx(1 / 3, abs=0.1)
    with pytest.raises(ServiceError) as unknown:
        store.offpolicy(experiment.id, AlwaysTarget(kind="always", arm="z"))
    assert unknown.value.param == "target"


def _variant(rank: int, profile: float) -> list[float]:
    score = {"score": 0.5 - 0.05 * rank, "profile_relevance": profile, "product_relevance": 0.8}
    return variant_features({**score, "diversity_penalty": 0.0, "rank": rank}, False, "a", "hikers")


def test_the_variant_choice_learns_which_variant_to_show_and_rebuilds_after_a_restart(
    store: ExperimentStore, database_url: str
) -> None:
    policy = {"name": "fixed_split", "variant_choice": True, "reward_wait_seconds": 0}
    one_arm = spec(arms=[{"name": "a", "template": "google_search@1"}], policy=policy)
    experiment = store.create(one_arm, pinned(("a",)), "t")
    ranked = [_variant(1, 0.2), _variant(2, 0.8)]  # the ranker prefers the one less about the profile
    luck = np.random.default_rng(7)
    first_shares = []
    for i in range(300):
        assignment = store.assign(experiment.id, f"user-{i}", "google_search", "hikers")
        assert assignment.variants is not None
        shares = assignment.variants.propensities(ranked)
        first_shares.append(shares)
        first = int(luck.choice(2, p=shares))
        order = [first, 1 - first]
        decision = store.record_decision(
            assignment, "hikers", [CreativeChoice(ranked[j], float(shares[j])) for j in order]
        )
        show(store, decision, clicked=luck.random() < (0.5 if first == 1 else 0.05))
    assert first_shares[0][0] > first_shares[0][1]  # no data yet: the ranker's order leads
    backdate(store, experiment.id, 60)
    assert store.update_policies(PolicyUpdater(UpdateRule(events=100, seconds=3600))) == {experiment.id: 2}
    learned = store.assign(experiment.id, "newcomer", "google_search", "hikers")
    assert learned.variants is not None and learned.variants.propensities(ranked)[1] > 0.9
    restarted = ExperimentStore.from_url(database_url)
    try:
        rebuilt = restarted.assign(experiment.id, "newcomer", "google_search", "hikers")
        assert rebuilt.variants is not None
        assert rebuilt.variants.state_digest() == learned.variants.state_digest()
    finally:
        restarted.close()


@pytest.mark.parametrize(
    "policy",
    [
        {"name": "thompson", "exploration": 1.0},
        {"name": "thompson_per_context"},
        {"name": "top_two", "beta": 0.6},
        {"name": "lints", "scale": 0.1},
    ],
)
def test_every_adaptive_policy_learns_and_keeps_its_floor(
    store: ExperimentStore, policy: dict[str, Any]
) -> None:
    floor = 0.3
    experiment = store.create(
        three_arms({**policy, "floor": floor, "reward_wait_seconds": 0}), pinned(ARMS), "t"
    )
    for i in range(90):
        decision = serve(store, experiment.id, f"user-{i}", segment="hikers")
        show(store, decision, clicked=decision.arm == "c")
    backdate(store, experiment.id, 60)
    assert store.update_policies(PolicyUpdater(UpdateRule(events=10, seconds=3600))) == {experiment.id: 2}
    for segment in ("hikers", "commuters", None):  # a segment never seen gets the pooled or prior view
        shares = store.assign(experiment.id, "newcomer", "google_search", segment).propensities
        assert sum(shares.values()) == pytest.approx(1.0)
        assert min(shares.values()) >= floor / 3 - 1e-12
    learned = store.assign(experiment.id, "newcomer", "google_search", "hikers").propensities
    assert learned["c"] > 0.5 and min(learned.values()) < 1 / 3  # it learned, and the floor holds the rest


def test_an_added_arm_is_compared_with_the_control_over_its_own_periods(store: ExperimentStore) -> None:
    """Click rates double for everyone when arm c joins: c must not look better than a control whose
    earlier, lower-rate traffic it never shared."""
    arms = [{"name": name, "template": "google_search@1"} for name in ("a", "b")]
    experiment = store.create(spec(arms=arms), pinned(), "t")
    luck = np.random.default_rng(3)
    for i in range(1200):
        show(store, serve(store, experiment.id, f"early-{i}"), clicked=luck.random() < 0.10)
    store.add_arm(experiment.id, ExperimentArm(name="c", template="google_search@1"), _pin("c", 1 / 3))
    for i in range(1200):
        show(store, serve(store, experiment.id, f"late-{i}"), clicked=luck.random() < 0.30)
    report = store.report(experiment.id)
    added = {arm.name: arm for arm in report.arms}["c"]
    rate_c, rate_a = added.rates["ctr"].value, report.arms[0].rates["ctr"].value
    assert rate_c is not None and rate_a is not None
    assert rate_c / rate_a - 1 > 0.2  # ≈ +50%: c's late traffic against all of a's would be a false lift
    lift = added.lift["ctr"]
    assert lift.value is not None and abs(lift.value) < 0.3 and lift.verdict == "inconclusive"  # ≈ 0 ± 0.1
    assert lift.note is not None and PAIRED_NOTE in lift.note


def test_offpolicy_over_a_single_unit_has_no_standard_error_rather_than_nan(store: ExperimentStore) -> None:
    experiment = store.create(three_arms({"name": "thompson", "reward_wait_seconds": 0}), pinned(ARMS), "t")
    for _ in range(4):  # one unit, four decisions: one cluster, so no standard error can be estimated
        show(store, serve(store, experiment.id, "only-user"), clicked=True)
    report = store.offpolicy(experiment.id, AlwaysTarget(kind="always", arm="a"))
    assert report.decisions == 4 and all(e.std_error is None for e in report.estimates)
    assert report.model_dump_json()  # serializable: no NaN reaches the response
