"""Within-request choice: the feature vector is stable and JSON-storable, propensities are floored
distributions fixed by (version, features), the prior follows the ranker, a policy rebuilt from the stored
rows is identical to the one that served, and in simulation the policy learns which feature earns clicks
and loses less than uniform."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from core.schema import RankScore
from experiments.simulate_variants import (
    SCENARIOS_DIR,
    draw_requests,
    load_variant_scenario,
    main,
    simulate_variants,
)
from experiments.variant_choice import (
    ARM_BUCKETS,
    DIMENSION,
    SEGMENT_BUCKETS,
    VARIANT_FEATURES,
    Row,
    VariantPolicy,
    bucket,
    variant_features,
)


def request(
    rng: np.random.Generator, k: int = 4, arm: str = "a", segment: str = "outdoor"
) -> list[list[float]]:
    """One request's k variants in rank order, scores decreasing, rank 1 without a diversity penalty."""
    profile = 0.35 + rng.normal(0, 0.06, k)
    product = 0.5 + rng.normal(0, 0.1, k)
    penalty = np.r_[0.0, rng.uniform(0.15, 0.27, k - 1)]
    score = np.sort(0.35 * (profile + product) - penalty)[::-1]
    return [
        variant_features(
            {
                "rank": i + 1,
                "score": float(score[i]),
                "profile_relevance": float(profile[i]),
                "product_relevance": float(product[i]),
                "diversity_penalty": float(penalty[i]),
            },
            repaired=bool(rng.random() < 0.2),
            arm=arm,
            segment=segment,
        )
        for i in range(k)
    ]


def trained(batches: int = 5, seed: int = 0) -> tuple[VariantPolicy, list[list[Row]]]:
    """A policy updated with ``batches`` batches of random clicks; the batches it saw."""
    policy = VariantPolicy()
    rng = np.random.default_rng(seed)
    seen: list[list[Row]] = []
    for _ in range(batches):
        batch: list[Row] = []
        for _ in range(200):
            features = request(rng, segment=str(rng.choice(["outdoor", "family"])))
            index, _ = policy.choose(features, rng)
            batch.append((features[index], float(rng.random() < 0.05 + 0.2 * features[index][2])))
        policy.update(batch)
        seen.append(batch)
    return policy, seen


def test_the_feature_vector_is_floats_in_the_documented_order() -> None:
    fields = {"rank": 1, "score": 0.31, "profile_relevance": 0.4, "product_relevance": 0.5}
    features = variant_features({**fields, "diversity_penalty": 0.0}, True, "control", "outdoor")
    assert len(features) == len(VARIANT_FEATURES) == DIMENSION
    assert all(type(v) is float for v in features) and json.loads(json.dumps(features)) == features
    named = dict(zip(VARIANT_FEATURES, features, strict=True))
    assert named["bias"] == 1.0 and named["score"] == 0.31 and named["top_rank"] == 1.0
    assert named["profile_relevance"] == 0.4 and named["product_relevance"] == 0.5
    assert named["repaired"] == 1.0
    # the hashed buckets are part of the stored rows' meaning: pinned so a change cannot go unnoticed
    assert (bucket("arm=control", ARM_BUCKETS), bucket("segment=outdoor", SEGMENT_BUCKETS)) == (3, 10)
    assert named["arm#3"] == 1.0 and named["segment#10"] == 1.0
    assert named["segment#10*profile_relevance"] == 0.4
    assert sum(v for name, v in named.items() if name.startswith("arm#")) == 1.0
    score = RankScore(**fields, diversity_penalty=0.0, relevance=0.45)
    assert variant_features(score, True, "control", "outdoor") == features
    second = variant_features({**fields, "rank": 2, "diversity_penalty": 0.2}, False, "b", "x")
    assert dict(zip(VARIANT_FEATURES, second, strict=True))["top_rank"] == 0.0
    with pytest.raises(ValueError, match="finite"):
        variant_features({**fields, "diversity_penalty": float("nan")}, False, "a", "s")


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_propensities_are_distributions_that_respect_the_floor(k: int) -> None:
    policy, _ = trained(batches=3)
    rng = np.random.default_rng(k)
    for _ in range(20):
        p = policy.propensities(request(rng, k))
        assert p.shape == (k,) and p.sum() == pytest.approx(1.0) and p.min() >= policy.floor / k - 1e-12
    index, propensity = policy.choose(request(rng, k), rng)
    assert 0 <= index < k and propensity >= policy.floor / k - 1e-12


def test_choices_follow_the_logged_propensities() -> None:
    policy, _ = trained(batches=2)
    features = request(np.random.default_rng(3))
    p = policy.propensities(features)
    rng = np.random.default_rng(4)
    picks = [policy.choose(features, rng) for _ in range(4000)]
    assert all(propensity == p[index] for index, propensity in picks)
    counts = np.bincount([index for index, _ in picks], minlength=len(p))
    assert stats.chisquare(counts, 4000 * p).pvalue > 0.001


def test_with_no_data_the_rankers_top_variant_is_the_likeliest_but_not_the_only_choice() -> None:
    policy = VariantPolicy()
    rng = np.random.default_rng(5)
    shown = np.array([policy.propensities(request(rng)) for _ in range(200)])
    assert (shown.argmax(axis=1) == 0).all()
    assert 0.5 < shown[:, 0].mean() < 0.8  # the ranker's order, with room to explore
    assert shown[:, 1:].min() > policy.floor / 4 and shown[:, 1:].mean() > 0.05  # beyond the floor


def test_the_same_version_and_features_give_the_same_propensities() -> None:
    policy, batches = trained(batches=3)
    rng = np.random.default_rng(6)
    requests = [request(rng) for _ in range(50)]
    first = policy.propensities_many(requests)
    assert np.array_equal(first, policy.propensities_many(requests))
    assert np.array_equal(first, np.array([policy.propensities(r) for r in requests]))  # batch = one by one
    twin = VariantPolicy()
    for batch in batches:
        twin.update(batch)
    assert np.array_equal(first, twin.propensities_many(requests))  # another process, same answer
    policy.update(batches[0])
    assert policy.version == 5 and not np.array_equal(first, policy.propensities_many(requests))


def test_a_policy_rebuilt_from_the_stored_rows_is_identical() -> None:
    policy, batches = trained(batches=4)
    stored = json.loads(json.dumps([[features, reward] for batch in batches for features, reward in batch]))
    rebuilt = VariantPolicy()
    rebuilt.fit(((features, reward) for features, reward in stored), version=policy.version)
    assert rebuilt.state_digest() == policy.state_digest()  # in one pass, whatever the batches were
    requests = [request(np.random.default_rng(7)) for _ in range(20)]
    assert np.array_equal(rebuilt.propensities_many(requests), policy.propensities_many(requests))
    regrouped = VariantPolicy()
    rows = [row for batch in batches for row in batch]
    for start in range(0, len(rows), 333):  # other batch boundaries: the same state
        regrouped.update(rows[start : start + 333])
    regrouped.version = policy.version
    assert regrouped.state_digest() == policy.state_digest()
    shuffled = VariantPolicy()
    shuffled.fit(rows[::-1], version=policy.version)
    assert shuffled.state_digest() != policy.state_digest()  # the digest sees the state, not just the count


def test_identical_variants_split_their_share() -> None:
    features = request(np.random.default_rng(8))
    p = VariantPolicy().propensities([features[0], features[1], features[1], features[2]])
    assert p[1] == p[2]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="draws"):
        VariantPolicy(draws=999)
    with pytest.raises(ValueError, match="features"):
        VariantPolicy().propensities([[1.0, 2.0]])
    policy, _ = trained(batches=1)
    before = policy.state_digest()
    with pytest.raises(ValueError, match="finite"):
        policy.update([([0.5] * DIMENSION, 1.0), ([float("inf")] * DIMENSION, 1.0)])
    assert policy.state_digest() == before  # all or nothing
    mixed = request(np.random.default_rng(10), segment="outdoor")
    mixed[1] = request(np.random.default_rng(10), segment="family")[1]
    with pytest.raises(ValueError, match="share the decision"):
        policy.propensities(mixed)


def test_the_policy_learns_to_prefer_the_variant_with_the_feature_that_earns_clicks() -> None:
    """Two variants per request: the ranker puts first the one with the *lower* profile relevance, and
    only profile relevance drives clicks. With no data the policy follows the ranker; after 12 batches it
    must serve the better variant most of the time (a two-proportion test; it fails if learning breaks)."""
    policy = VariantPolicy()
    rng = np.random.default_rng(9)

    def pair() -> tuple[list[list[float]], np.ndarray]:
        profile = np.sort(0.35 + rng.normal(0, 0.08, 2))  # rank 1 gets the lower profile relevance
        ctr = 0.03 + 0.3 * (profile - 0.35)
        variants = [
            variant_features(
                {
                    "rank": i + 1,
                    "score": 0.3 - 0.1 * i,
                    "profile_relevance": float(profile[i]),
                    "product_relevance": float(0.5 + rng.normal(0, 0.1)),
                    "diversity_penalty": 0.0 if i == 0 else 0.2,
                },
                False,
                "only",
                "all",
            )
            for i in range(2)
        ]
        return variants, np.clip(ctr, 0.001, 1)

    better_share = []
    for _ in range(12):
        batch: list[Row] = []
        better = 0
        for _ in range(1000):
            variants, ctr = pair()
            index, _ = policy.choose(variants, rng)
            better += index == 1
            batch.append((variants[index], float(rng.random() < ctr[index])))
        better_share.append(better)
        policy.update(batch)
    assert better_share[0] < 500  # the prior follows the ranker
    table = [[better_share[-1], 1000 - better_share[-1]], [better_share[0], 1000 - better_share[0]]]
    assert better_share[-1] > 700 and stats.fisher_exact(table, alternative="greater").pvalue < 1e-6
    weight = policy.posterior_mean()[VARIANT_FEATURES.index("profile_relevance")]
    assert weight > 0.1  # the true weight is 0.3


def test_a_small_simulation_loses_less_than_uniform_and_rebuilds_exactly(tmp_path: Path) -> None:
    started = time.perf_counter()
    scenario = load_variant_scenario("V").model_copy(
        update={"requests": 8000, "update_every": 500, "seeds": 2, "arms": {"only": 0.0}}
    )
    result = simulate_variants(scenario)
    assert result["regret_vs_uniform"] < 0.5, result["policies"]
    assert result["rebuild_identical"]
    assert result["offpolicy_top1"]["snips"]["median_relative_error"] < 0.3
    assert result["prior_propensity_by_rank"][0] == max(result["prior_propensity_by_rank"])
    assert time.perf_counter() - started < 10


def test_the_simulated_requests_use_the_documented_features() -> None:
    scenario = load_variant_scenario("V")
    batch = draw_requests(scenario, 5, np.random.default_rng(1))
    assert batch.features.shape == (5, scenario.k, DIMENSION) and batch.ctr.shape == (5, scenario.k)
    named = {name: batch.features[:, :, i] for i, name in enumerate(VARIANT_FEATURES)}
    assert (named["top_rank"][:, 0] == 1).all() and (named["top_rank"][:, 1:] == 0).all()
    assert (np.diff(named["score"][:, 1:], axis=1) <= 0).all()  # ranks 2..k in MMR order
    for row in batch.features[0]:
        named_row = dict(zip(VARIANT_FEATURES, row, strict=True))
        fields = {
            "rank": 1 if named_row["top_rank"] else 2,
            **{f: named_row[f] for f in ("score", "profile_relevance", "product_relevance")},
            "diversity_penalty": named_row["diversity_penalty"],
        }
        arm = next(a for a in scenario.arms if named_row[f"arm#{bucket('arm=' + a, ARM_BUCKETS)}"])
        segment = next(
            s for s in scenario.segments if named_row[f"segment#{bucket('segment=' + s, SEGMENT_BUCKETS)}"]
        )
        assert variant_features(fields, bool(named_row["repaired"]), arm, segment) == row.tolist()


def test_the_committed_scenario_loads_and_the_cli_writes_a_plot(tmp_path: Path) -> None:
    assert (SCENARIOS_DIR / "V.yaml").is_file() and load_variant_scenario("V").requests == 50_000
    small = tmp_path / "tiny.yaml"
    small.write_text(
        "name: tiny\nk: 3\nrequests: 1500\nupdate_every: 500\nseeds: 1\narms: {a: 0.0}\n"
        "segments: {all: {share: 1.0, base_ctr: 0.03, profile_weight: 0.2}}\n"
        "variants: {profile_mean: 0.35, profile_sd: 0.06, product_mean: 0.5, product_sd: 0.1}\n",
        encoding="utf-8",
    )
    assert main([str(small), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["no-such-scenario"]) == 1
