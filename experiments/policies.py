"""Allocation policies over an experiment's arms: ``uniform`` (the fixed split), ``thompson`` (Beta-Bernoulli
per arm, optionally per context; ``top_two`` for best-arm identification) and ``lints`` (linear Thompson
sampling over the decision's coarse context).

Every policy answers :meth:`Policy.propensities` for a context: the probability of each arm, floored so
every arm keeps at least ``floor`` (the logs keep support for off-policy estimates). Thompson's
probabilities have no closed form beyond two arms: they are estimated from ``draws`` posterior samples
(seeded by the policy version, so one version gives one answer, cached), and the arm is then drawn from
that estimate, so the logged propensity is exactly the probability the arm had. :meth:`Policy.update`
folds a batch of rewards in and bumps the version.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
DEFAULT_FLOOR = 0.01  # of the whole traffic, shared by the arms: each keeps ≥ 1% / number of arms
DEFAULT_DRAWS = 1000


@dataclass(frozen=True)
class Context:
    """What is known when the arm is chosen: the unit's coarse segment and the placement."""

    segment: str = ""
    placement: str = ""


def _seed(version: int, context: Context) -> list[int]:
    """A seed fixed by the policy version and the context (stable across processes, unlike ``hash``)."""
    return [version, zlib.crc32(f"{context.segment}\x00{context.placement}".encode())]


@dataclass(frozen=True)
class Observation:
    """One decision's outcome: the arm served, its context and the reward (a click: 0 or 1)."""

    arm: int
    context: Context
    reward: float


@dataclass(frozen=True)
class Tally:
    """Many decisions of one arm in one context: how many, and how many earned the reward. For Bernoulli
    rewards these are the sufficient statistics of every policy here, so a policy rebuilt from the stored
    tallies equals one updated decision by decision."""

    arm: int
    context: Context
    trials: float
    successes: float


def with_floor(probabilities: Array, floor: float) -> Array:
    """Mix with the uniform so each of the k arms has at least ``floor / k`` (and the sum stays 1)."""
    k = len(probabilities)
    mixed = (1 - floor) * probabilities + floor / k
    return mixed / mixed.sum()


@dataclass
class Policy:
    """Base: the arms' count, the floor and a version bumped by every update."""

    arms: int
    floor: float = DEFAULT_FLOOR
    version: int = 1
    name: str = "uniform"
    _cache: dict[tuple[int, Context], Array] = field(default_factory=dict, repr=False)

    def propensities(self, context: Context) -> Array:
        """Each arm's probability for ``context`` (floored, summing to 1), cached per version."""
        key = (self.version, context)
        found = self._cache.get(key)
        if found is None:
            found = with_floor(self._raw(context), self.floor)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = found
        return found

    def choose(self, context: Context, rng: np.random.Generator) -> tuple[int, float]:
        """Draw an arm from the propensities; (arm, its propensity)."""
        p = self.propensities(context)
        arm = int(rng.choice(len(p), p=p))
        return arm, float(p[arm])

    def update(self, observations: Sequence[Observation]) -> None:
        """Fold a batch of rewards in (a new version)."""
        if observations:
            for seen in observations:
                self._learn(Tally(seen.arm, seen.context, 1.0, seen.reward))
            self.version += 1

    def fit(self, tallies: Sequence[Tally], version: int) -> None:
        """Fold stored tallies into a fresh policy and set its version (rebuilding a version's state)."""
        for tally in tallies:
            self._learn(tally)
        self.version = version
        self._cache.clear()

    def _raw(self, context: Context) -> Array:
        return np.full(self.arms, 1.0 / self.arms)

    def _learn(self, tally: Tally) -> None:
        """Uniform learns nothing."""


@dataclass
class Thompson(Policy):
    """Beta-Bernoulli Thompson sampling, one posterior per arm (or per context × arm with ``per_context``)."""

    name: str = "thompson"
    per_context: bool = False
    draws: int = DEFAULT_DRAWS
    prior: tuple[float, float] = (1.0, 1.0)
    top_two: float | None = None  # β of top-two Thompson (best-arm identification); None: plain
    exploration: float = 1.0  # posterior variance × this (Chapelle & Li 2011 found < 1 better on ads)
    _counts: dict[Context, Array] = field(default_factory=dict, repr=False)

    def _key(self, context: Context) -> Context:
        return context if self.per_context else Context()

    def _posterior(self, context: Context) -> Array:
        """The Beta counts of ``context``, created on first learning (a read of an unseen context gets the
        prior without storing it: free-text segments cannot grow the state)."""
        found = self._counts.get(self._key(context))
        return found if found is not None else np.tile(np.asarray(self.prior, dtype=float), (self.arms, 1))

    def _share_best(self, counts: Array, context: Context) -> Array:
        """How often each arm's Beta(counts) sample is the highest, over ``draws`` seeded samples."""
        rng = np.random.default_rng(_seed(self.version, context))
        samples = rng.beta(counts[:, 0], counts[:, 1], size=(self.draws, self.arms))
        return np.bincount(samples.argmax(axis=1), minlength=self.arms) / self.draws

    def probability_best(self, context: Context) -> Array:
        """P(each arm has the highest rate) under the posterior, by Monte Carlo (no floor, no top-two)."""
        return self._share_best(self._posterior(context), context)

    def _raw(self, context: Context) -> Array:
        # Beta(a/s, b/s): the same mean, variance ≈ s × the posterior's
        best = self._share_best(self._posterior(context) / self.exploration, context)
        return best if self.top_two is None else top_two_probabilities(best, self.top_two)

    def _learn(self, tally: Tally) -> None:
        counts = self._counts.setdefault(self._key(tally.context), self._posterior(tally.context))
        counts[tally.arm, 0] += tally.successes
        counts[tally.arm, 1] += tally.trials - tally.successes


def top_two_probabilities(best: Array, beta: float) -> Array:
    """Top-two Thompson's arm probabilities from the probabilities of being best (Russo 2016): the leader
    with probability β, else a challenger, the best of fresh samples that is not the leader."""
    probabilities = beta * best.copy()
    for leader, p_leader in enumerate(best):
        if p_leader <= 0 or p_leader >= 1:
            continue
        challenger = best / (1 - p_leader)
        challenger[leader] = 0.0
        probabilities += (1 - beta) * p_leader * challenger
    if len(best) == 1:
        return np.ones(1)
    if best.max() >= 1:  # one arm certain: the challenger is uniform among the rest
        leader = int(best.argmax())
        rest = np.full(len(best), 1 / (len(best) - 1))
        rest[leader] = 0
        probabilities += (1 - beta) * rest
    return probabilities / probabilities.sum()


SEGMENT_BUCKETS = 32
PLACEMENT_BUCKETS = 8


def _bucket(name: str, buckets: int) -> int:
    return zlib.crc32(name.encode()) % buckets


@dataclass
class LinearThompson(Policy):
    """Linear Thompson sampling (Agrawal & Goyal 2013) over one-hot segment and placement features, one
    Bayesian linear model per arm; ``scale`` sets the posterior's spread. Segments and placements are
    hashed into fixed buckets (crc32), so the model's size is fixed: free-text segments cannot grow it, and
    reading it never writes (it is shared by the serving threads)."""

    name: str = "lints"
    draws: int = DEFAULT_DRAWS
    scale: float = 0.05
    ridge: float = 1.0
    _precision: list[Array] = field(default_factory=list, repr=False)
    _targets: list[Array] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        size = 1 + SEGMENT_BUCKETS + PLACEMENT_BUCKETS
        self._precision = [self.ridge * np.eye(size) for _ in range(self.arms)]
        self._targets = [np.zeros(size) for _ in range(self.arms)]

    @staticmethod
    def _vector(context: Context) -> Array:
        vector = np.zeros(1 + SEGMENT_BUCKETS + PLACEMENT_BUCKETS)
        vector[0] = 1.0  # the bias
        vector[1 + _bucket(context.segment, SEGMENT_BUCKETS)] = 1.0
        vector[1 + SEGMENT_BUCKETS + _bucket(context.placement, PLACEMENT_BUCKETS)] = 1.0
        return vector

    def _raw(self, context: Context) -> Array:
        x = self._vector(context)
        rng = np.random.default_rng(_seed(self.version, context))
        scores = np.empty((self.draws, self.arms))
        for arm in range(self.arms):
            covariance = np.linalg.inv(self._precision[arm])
            mean = covariance @ self._targets[arm]
            # x·θ for θ ~ N(mean, scale² Σ) is N(x·mean, scale² xᵀΣx): sample the score directly
            scores[:, arm] = rng.normal(x @ mean, self.scale * np.sqrt(x @ covariance @ x), size=self.draws)
        return np.bincount(scores.argmax(axis=1), minlength=self.arms) / self.draws

    def _learn(self, tally: Tally) -> None:
        x = self._vector(tally.context)
        self._precision[tally.arm] += tally.trials * np.outer(x, x)
        self._targets[tally.arm] += tally.successes * x


def make_policy(name: str, arms: int, floor: float = DEFAULT_FLOOR, **options: float | bool) -> Policy:
    """A policy by name: ``uniform``, ``thompson`` (``exploration`` option), ``thompson_plain``,
    ``thompson_per_context`` (``exploration``), ``top_two`` (``beta``) or ``lints`` (``scale``)."""
    if name == "uniform":
        return Policy(arms, floor)
    if name == "thompson":
        return Thompson(arms, floor, exploration=float(options.get("exploration", 1.0)))
    if name == "thompson_plain":
        return Thompson(arms, floor, name=name)
    if name == "thompson_per_context":
        exploration = float(options.get("exploration", 1.0))
        return Thompson(arms, floor, name=name, per_context=True, exploration=exploration)
    if name == "top_two":
        return Thompson(arms, floor, name=name, top_two=float(options.get("beta", 0.5)))
    if name == "lints":
        return LinearThompson(arms, floor, scale=float(options.get("scale", 0.05)))
    raise ValueError(
        f"unknown policy {name!r}; known: uniform, thompson, thompson_per_context, top_two, lints"
    )
