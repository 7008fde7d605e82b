"""Off-policy estimators: known answers, agreement with Vowpal Wabbit's ``estimators`` on shared logs, and
accuracy against the truth on simulated logs of an adaptive (Thompson) logging policy."""

from __future__ import annotations

import numpy as np
import pytest
from estimators.bandits import gaussian as vw_gaussian
from estimators.bandits import ips as vw_ips
from estimators.bandits import snips as vw_snips

from experiments import offpolicy
from experiments.offpolicy import Logs, logs_from


def random_logs(seed: int, decisions: int = 5000, arms: int = 3) -> tuple[Logs, np.ndarray]:
    """Logs from a context-dependent logging policy; and the true click rates (context × arm)."""
    rng = np.random.default_rng(seed)
    truth = np.array([[0.02, 0.05, 0.03], [0.06, 0.01, 0.02]])
    logging = np.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2]])
    records = []
    for _ in range(decisions):
        context = int(rng.integers(2))
        arm = int(rng.choice(arms, p=logging[context]))
        records.append(
            (f"s{context}", arm, float(logging[context, arm]), float(rng.random() < truth[context, arm]))
        )
    return logs_from(records, arms), truth


def test_known_answers() -> None:
    # uniform logging over two arms, arm 0 always clicked, arm 1 never: "always arm 0" is worth exactly 1
    logs = logs_from([("x", 0, 0.5, 1.0), ("x", 1, 0.5, 0.0)] * 50, 2)
    for estimate in offpolicy.estimate_all(logs, offpolicy.always(0, 2)):
        assert estimate.value == pytest.approx(1.0), estimate.estimator
    for estimate in offpolicy.estimate_all(logs, offpolicy.always(1, 2)):
        assert estimate.value == pytest.approx(0.0), estimate.estimator
    uniform = offpolicy.ips(logs, lambda context: np.array([0.5, 0.5]))
    assert uniform.value == pytest.approx(0.5)  # the logging policy's own value: the mean reward


def test_ips_and_snips_agree_with_vowpal_wabbits_estimators() -> None:
    logs, _ = random_logs(3)
    target = lambda context: np.array([0.1, 0.1, 0.8]) if context == "s0" else np.array([0.7, 0.2, 0.1])  # noqa: E731
    ours_ips, ours_snips = offpolicy.ips(logs, target), offpolicy.snips(logs, target)
    ref_ips, ref_snips, ref_interval = vw_ips.Estimator(), vw_snips.Estimator(), vw_gaussian.Interval()
    for context, arm, p_log, reward in zip(
        logs.contexts, logs.arms, logs.propensities, logs.rewards, strict=True
    ):
        p_target = float(target(context)[arm])
        for reference in (ref_ips, ref_snips, ref_interval):
            reference.add_example(p_log=float(p_log), r=float(reward), p_pred=p_target)
    assert ours_ips.value == pytest.approx(ref_ips.get(), rel=1e-12)
    assert ours_snips.value == pytest.approx(ref_snips.get(), rel=1e-12)
    assert [ours_ips.low, ours_ips.high] == pytest.approx(ref_interval.get(), rel=1e-9)


@pytest.mark.parametrize("estimator", [offpolicy.snips, offpolicy.doubly_robust])
def test_estimates_land_near_the_truth(estimator: object) -> None:
    errors = []
    for seed in range(10):
        logs, truth = random_logs(seed, decisions=20_000)
        value = estimator(logs, offpolicy.always(1, 3)).value  # type: ignore[operator]
        errors.append(abs(value - truth[:, 1].mean()) / truth[:, 1].mean())
    assert np.median(errors) < 0.10


@pytest.mark.parametrize("estimator", [offpolicy.ips, offpolicy.snips])
def test_clustered_standard_errors_count_a_units_repeated_decisions_once(estimator: object) -> None:
    logs, _ = random_logs(seed=4, decisions=2000)
    target = offpolicy.always(1, 3)
    one_each = [f"u{i}" for i in range(len(logs.arms))]
    alone = estimator(logs, target)  # type: ignore[operator]
    as_clusters = estimator(Logs(**{**logs.__dict__, "clusters": one_each}), target)  # type: ignore[operator]
    assert as_clusters.std_error == pytest.approx(alone.std_error)  # one decision per unit: the same
    twice = Logs(
        contexts=logs.contexts * 2,
        arms=np.concatenate([logs.arms, logs.arms]),
        propensities=np.concatenate([logs.propensities, logs.propensities]),
        rewards=np.concatenate([logs.rewards, logs.rewards]),
        n_arms=3,
        clusters=one_each * 2,  # every unit served twice, with the same outcome
    )
    repeated = estimator(twice, target)  # type: ignore[operator]
    assert repeated.value == pytest.approx(alone.value)
    assert repeated.std_error == pytest.approx(alone.std_error)  # no more information than once
    naive = estimator(Logs(**{**twice.__dict__, "clusters": None}), target)  # type: ignore[operator]
    assert naive.std_error < 0.75 * alone.std_error  # what treating them as independent would claim
