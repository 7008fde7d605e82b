"""The experiments flow over HTTP with a fake engine: create, serve creatives with decisions, post events,
read the report; scopes, arm conflicts, batch limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from api.auth import new_key
from experiments.db import CreativeRow
from experiments.variant_choice import VARIANT_FEATURES
from tests.unit.api.support import Served, serving

WRITER_KEY, WRITER = new_key("analyst", ["experiments:write", "experiments:read"])
TOOL_KEY, TOOL = new_key("campaign-tool", ["generate", "events:write"])
EXPERIMENT: dict[str, Any] = {
    "name": "headline test",
    "placement": "google_search",
    "control": "control",
    "arms": [
        {"name": "control", "template": "google_search@1", "adapter": None},
        {"name": "house", "template": "google_search@1", "adapter": "house", "n": 4, "k": 2},
    ],
}


def auth(key: str) -> dict[str, str]:
    """A bearer header."""
    return {"Authorization": f"Bearer {key}"}


async def create(served: Served, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create an experiment as the analyst; its JSON."""
    answer = await served.client.post("/v1/experiments", json=body or EXPERIMENT, headers=auth(WRITER_KEY))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def test_the_whole_flow_create_serve_report(sample_request: dict[str, Any]) -> None:
    async with serving(api_keys=[WRITER, TOOL]) as served:
        experiment = await create(served)
        assert [p["template"] for p in experiment["pinned"]] == ["google_search@1", "google_search@1"]
        assert [p["adapter"] for p in experiment["pinned"]] == [None, "house"]
        request = {**sample_request, "experiment": experiment["id"], "n": None, "k": None}
        answers = []
        for unit in ("u1", "u2", "u3", "u1"):
            body = {**request, "profile": {**request["profile"], "id": unit}}
            answer = await served.client.post("/v1/creatives", json=body, headers=auth(TOOL_KEY))
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
        first, *_, again = answers
        assert first["decision"]["arm"] == again["decision"]["arm"]  # sticky
        for answer in answers:
            decision = answer["decision"]
            assert len(decision["creative_ids"]) == len(answer["variants"])
            assert answer["adapter"] == ("house" if decision["arm"] == "house" else None)
        now = datetime.now(UTC).isoformat()
        events = [
            {
                "event_id": f"imp-{i}",
                "decision_id": a["decision"]["id"],
                "creative_id": a["decision"]["creative_ids"][0],
                "type": "impression",
                "event_time": now,
            }
            for i, a in enumerate(answers)
        ]
        posted = await served.client.post("/v1/events", json={"events": events}, headers=auth(TOOL_KEY))
        report = await served.client.get(
            f"/v1/experiments/{experiment['id']}/report", headers=auth(WRITER_KEY)
        )
        listing = await served.client.get("/v1/experiments", headers=auth(WRITER_KEY))
    assert posted.status_code == 200 and posted.json()["accepted"] == 4, posted.text
    assert report.status_code == 200, report.text
    assert sum(arm["impressions"] for arm in report.json()["arms"]) == 4
    assert sum(arm["units"] for arm in report.json()["arms"]) == 3
    assert listing.json()["data"][0]["id"] == experiment["id"]  # newest first (the session shares a database)


async def test_scopes_guard_every_route() -> None:
    async with serving(api_keys=[WRITER, TOOL]) as served:
        as_tool = await served.client.post("/v1/experiments", json=EXPERIMENT, headers=auth(TOOL_KEY))
        reading = await served.client.get("/v1/experiments", headers=auth(TOOL_KEY))
        events = await served.client.post("/v1/events", json={"events": [{}]}, headers=auth(WRITER_KEY))
        anonymous = await served.client.get("/v1/experiments")
    assert [as_tool.status_code, reading.status_code, events.status_code] == [403, 403, 403]
    assert anonymous.status_code == 401


async def test_bad_arms_and_conflicting_requests_are_clear_400s(sample_request: dict[str, Any]) -> None:
    async with serving() as served:
        unknown_adapter = await served.client.post(
            "/v1/experiments",
            json={**EXPERIMENT, "arms": [EXPERIMENT["arms"][0], {"name": "x", "adapter": "nope"}]},
        )
        bad_control = await served.client.post("/v1/experiments", json={**EXPERIMENT, "control": "missing"})
        greedy = await served.client.post(
            "/v1/experiments",
            json={**EXPERIMENT, "arms": [EXPERIMENT["arms"][0], {"name": "g", "temperature": 0, "n": 3}]},
        )
        experiment = await create(served)
        conflict = await served.client.post(
            "/v1/creatives",
            json={**sample_request, "experiment": experiment["id"], "template": "google_search@1"},
        )
        both_set_n = await create(
            served, {**EXPERIMENT, "arms": [{**arm, "n": 2, "k": 1} for arm in EXPERIMENT["arms"]]}
        )
        n_conflict = await served.client.post(
            "/v1/creatives", json={**sample_request, "experiment": both_set_n["id"]}
        )
        missing = await served.client.post(
            "/v1/creatives", json={**sample_request, "experiment": "exp_0000000000000000"}
        )
        await served.client.post(f"/v1/experiments/{experiment['id']}/stop")
        stopped = await served.client.post(
            "/v1/creatives", json={**sample_request, "experiment": experiment["id"], "n": None, "k": None}
        )
    assert unknown_adapter.status_code == 400 and unknown_adapter.json()["error"]["code"] == "invalid_arm"
    assert "nope" in unknown_adapter.json()["error"]["message"]
    assert bad_control.status_code == 400 and greedy.status_code == 400
    assert conflict.status_code == 400 and conflict.json()["error"]["param"] == "template"
    assert (
        n_conflict.status_code == 400 and n_conflict.json()["error"]["param"] == "n"
    )  # the request sets n=8
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "experiment_not_found"
    assert stopped.status_code == 409 and stopped.json()["error"]["code"] == "experiment_stopped"


async def test_a_batch_over_the_limits_is_refused_whole() -> None:
    async with serving(events_max_body_bytes=64 << 10) as served:
        too_many = await served.client.post("/v1/events", json={"events": [{}] * 1001})
        big = {"events": [{"event_id": "x" * 100, "padding": "y" * 1000}] * 100}  # > 64 KiB
        too_big = await served.client.post("/v1/events", json=big)
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "events"
    assert too_big.status_code == 413


async def test_an_adaptive_experiment_over_http(sample_request: dict[str, Any]) -> None:
    body = {**EXPERIMENT, "policy": {"name": "thompson", "floor": 0.1, "exploration": 0.5}}
    async with serving(api_keys=[WRITER, TOOL]) as served:
        experiment = await create(served, body)
        assert experiment["policy"]["name"] == "thompson" and experiment["policy_version"] == 1
        request = {**sample_request, "experiment": experiment["id"], "n": None, "k": None}
        answer = await served.client.post("/v1/creatives", json=request, headers=auth(TOOL_KEY))
        path = f"/v1/experiments/{experiment['id']}"
        events = []
        for unit in range(6):
            body = {**request, "profile": {**request["profile"], "id": f"u{unit}"}}
            decision = (await served.client.post("/v1/creatives", json=body, headers=auth(TOOL_KEY))).json()
            decision = decision["decision"]
            for kind in ("impression", "click")[: 1 + unit % 2]:
                events.append(
                    {
                        "event_id": f"{kind}-{unit}",
                        "decision_id": decision["id"],
                        "creative_id": decision["creative_ids"][0],
                        "type": kind,
                        "event_time": datetime.now(UTC).isoformat(),
                    }
                )
        await served.client.post("/v1/events", json={"events": events}, headers=auth(TOOL_KEY))
        replayed = await served.client.post(
            f"{path}/offpolicy", json={"target": {"kind": "current"}}, headers=auth(WRITER_KEY)
        )
        greedy_arm = await served.client.post(
            f"{path}/arms",
            json={"name": "greedy", "template": "google_search@1", "n": 4, "temperature": 0},
            headers=auth(WRITER_KEY),
        )
        added = await served.client.post(
            f"{path}/arms",
            json={"name": "plain", "template": "google_search@1", "adapter": None, "weight": 2},
            headers=auth(WRITER_KEY),
        )
        retired = await served.client.post(f"{path}/arms/house/retire", headers=auth(WRITER_KEY))
        control = await served.client.post(f"{path}/arms/control/retire", headers=auth(WRITER_KEY))
        unknown = await served.client.post(f"{path}/arms/nope/retire", headers=auth(WRITER_KEY))
        periods = await served.client.get(f"{path}/periods", headers=auth(WRITER_KEY))
        always = {"target": {"kind": "always", "arm": "control"}}
        offpolicy = await served.client.post(f"{path}/offpolicy", json=always, headers=auth(WRITER_KEY))
        bad_target = await served.client.post(
            f"{path}/offpolicy", json={"target": {"kind": "sometimes"}}, headers=auth(WRITER_KEY)
        )
        report = await served.client.get(f"{path}/report", headers=auth(WRITER_KEY))
        wrong_option = await served.client.post(
            "/v1/experiments",
            json={**EXPERIMENT, "policy": {"name": "fixed_split", "beta": 0.5}},
            headers=auth(WRITER_KEY),
        )
    assert answer.status_code == 200, answer.text
    decision = answer.json()["decision"]
    assert decision["policy_version"] == 1 and 0.05 <= decision["propensity"] <= 0.95
    assert added.status_code == 201, added.text
    assert added.json()["policy_version"] == 2 and added.json()["pinned"][2]["adapter"] is None
    assert retired.status_code == 200 and retired.json()["pinned"][1]["retired_at"] is not None
    assert control.status_code == 409 and control.json()["error"]["code"] == "arm_change_refused"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "arm_not_found"
    assert [p["reason"] for p in periods.json()] == ["created", "arm_added", "arm_retired"]
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["decisions"] == 6 and replayed.json()["logged_value"] == 0.5
    assert [e["estimator"] for e in replayed.json()["estimates"]] == ["ips", "snips", "dr"]
    assert "optimistic" in replayed.json()["note"]  # the current policy learned from these logs
    assert greedy_arm.status_code == 400 and greedy_arm.json()["error"]["param"] == "n", greedy_arm.text
    assert offpolicy.status_code == 200 and offpolicy.json()["decisions"] == 6, offpolicy.text
    assert bad_target.status_code == 400 and bad_target.json()["error"]["param"].startswith("target")
    assert report.status_code == 200 and "inverse-propensity" in report.json()["estimator"]
    assert [p["reason"] for p in report.json()["periods"]] == ["created", "arm_added", "arm_retired"]
    assert wrong_option.status_code == 400 and "beta" in wrong_option.json()["error"]["message"]


async def test_one_arm_with_the_variant_choice_logs_each_variants_propensity(
    sample_request: dict[str, Any],
) -> None:
    body = {
        **EXPERIMENT,
        "control": "house",
        "arms": [{"name": "house", "template": "google_search@1", "adapter": "house", "n": 4, "k": 3}],
        "policy": {"name": "fixed_split", "variant_choice": True},
    }
    async with serving(api_keys=[WRITER, TOOL]) as served:
        experiment = await create(served, body)
        request = {**sample_request, "experiment": experiment["id"], "n": None, "k": None}
        answer = await served.client.post("/v1/creatives", json=request, headers=auth(TOOL_KEY))
        store = served.app.state.service.experiments
        with store.sessions() as session:
            rows = session.scalars(
                select(CreativeRow)
                .where(CreativeRow.decision_id == answer.json()["decision"]["id"])
                .order_by(CreativeRow.position)
            ).all()
    assert answer.status_code == 200, answer.text
    decision, variants = answer.json()["decision"], answer.json()["variants"]
    assert len(variants) == 3 and decision["propensity"] == 1.0
    assert decision["first_variant_propensity"] == rows[0].choice_propensity
    assert sum(row.choice_propensity for row in rows) == pytest.approx(1.0)
    assert min(row.choice_propensity for row in rows) >= 0.05 / 3 - 1e-12  # the variant floor
    top_rank = VARIANT_FEATURES.index("top_rank")
    assert [row.features[top_rank] for row in rows] == [float(v["score"]["rank"] == 1) for v in variants]
