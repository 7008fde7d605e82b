"""Within-request choice: which of a request's k ranked variants to show, by linear Thompson sampling over
the variants' features.

Generated variants never recur, so a posterior per variant would learn nothing: the policy learns how a
variant's *features* (the ranker's scores, whether it was repaired, the decision's arm and segment) predict
the reward, with one Bayesian linear model shared by every variant of every request, and scores each
candidate with weights drawn from it. The prior reproduces the ranker: with no data the top-ranked variant
is the most likely choice, not the only one, so the loop starts from the ranker's order and works for an
experiment with a single arm too.

Features (:data:`VARIANT_FEATURES`, a fixed-length vector of floats, stored as JSON): a bias, the ranker's
``score``, ``profile_relevance``, ``product_relevance``, ``diversity_penalty``, ``top_rank`` (rank 1),
``repaired``, then one-hot buckets of the arm (8) and of the segment (16) — ``zlib.crc32`` of the name
modulo the bucket count: stable across processes, no index to persist; two names may share a bucket, which
merges what is learned about them — and the segment bucket × profile relevance. The bias, arm and segment
columns are the decision's, the same for all of a request's variants: they add the same to every variant's
score, so a choice never depends on them (they are left out of the scoring), but they absorb the click-rate
level of each arm and segment so the variant-level weights are not confounded by it. The segment × profile
relevance interaction lets the value of profile relevance differ by segment.

Model: reward = x·θ + noise. Prior θ ~ N(μ₀, scale²/ridge · I), with μ₀ zero except ``prior_score`` on the
ranker's score and ``prior_top`` on ``top_rank``; the prior is worth ``ridge`` pseudo-observations. The
state is the precision ``A = ridge·I + Σ x xᵀ`` and ``b = ridge·μ₀ + Σ r x`` (sufficient statistics);
the posterior is N(A⁻¹b, scale²·A⁻¹). Rows are folded in sequentially (a running sum in row order), so the
state is a function of the rows and their order alone, whatever the batches: a policy rebuilt from the
stored rows is bit-for-bit the one that served (:meth:`VariantPolicy.state_digest` proves it).

Propensities: ``draws`` (≥ 1,000) weight vectors are drawn from the posterior with a generator seeded by
the policy version (drawn once per version and cached); a variant's probability is the share of draws in
which its score is the highest (ties split), mixed with the uniform by :func:`with_floor` so each of the k
variants keeps at least ``floor / k``. The same (version, features) always gives the same propensities,
and a choice is drawn from exactly the logged propensities, so the logs support off-policy estimates.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

import numpy as np
from scipy import linalg

from experiments.policies import DEFAULT_DRAWS, Array, with_floor

ARM_BUCKETS = 8
SEGMENT_BUCKETS = 16
_SCALARS = (
    "bias",
    "score",
    "profile_relevance",
    "product_relevance",
    "diversity_penalty",
    "top_rank",
    "repaired",
)
VARIANT_FEATURES: tuple[str, ...] = (
    *_SCALARS,
    *(f"arm#{i}" for i in range(ARM_BUCKETS)),
    *(f"segment#{i}" for i in range(SEGMENT_BUCKETS)),
    *(f"segment#{i}*profile_relevance" for i in range(SEGMENT_BUCKETS)),
)
DIMENSION = len(VARIANT_FEATURES)
_ARM0 = len(_SCALARS)
_SEGMENT0 = _ARM0 + ARM_BUCKETS
_CROSS0 = _SEGMENT0 + SEGMENT_BUCKETS
# Columns that vary between a request's variants; the others (bias, arm, segment) are the decision's, the
# same for all of them, and add the same to every variant's score: a choice never depends on them.
_VARIANT_COLUMNS = np.r_[1:_ARM0, _CROSS0:DIMENSION]
_DECISION_COLUMNS = np.r_[0, _ARM0:_CROSS0]
MIN_DRAWS = 1000
# Of all requests, shared by the k variants: each keeps ≥ 5% / k (see scenario V for what the floor buys).
DEFAULT_VARIANT_FLOOR = 0.05
CHUNK = 1000  # rows folded, or requests scored, per vectorized step (bounds the memory used)
_SALT = zlib.crc32(b"variant_choice")

Row = tuple[Sequence[float], float]  # one shown variant: its feature vector and its reward
RequestFeatures = Sequence[Sequence[float]] | Array  # one vector per variant of a request, in rank order


class RankScoreLike(Protocol):
    """The fields of :class:`core.schema.RankScore` the features use."""

    rank: int
    score: float
    profile_relevance: float
    product_relevance: float
    diversity_penalty: float


def bucket(name: str, buckets: int) -> int:
    """A name's one-hot bucket: stable across processes and releases (unlike ``hash``)."""
    return zlib.crc32(name.encode()) % buckets


def feature_matrix(
    score: Array,
    profile: Array,
    product: Array,
    penalty: Array,
    rank: Array,
    repaired: Array,
    arms: Sequence[str],
    segments: Sequence[str],
) -> Array:
    """Feature vectors of many variants at once, one row each (the arrays are per variant)."""
    n = len(score)
    columns = [np.asarray(c, dtype=float) for c in (score, profile, product, penalty, rank, repaired)]
    if any(c.shape != (n,) for c in columns) or len(arms) != n or len(segments) != n:
        raise ValueError("every input needs one entry per variant")
    if not all(np.isfinite(c).all() for c in columns):
        raise ValueError("features must be finite numbers")
    out = np.zeros((n, DIMENSION))
    out[:, 0] = 1.0
    out[:, 1:5] = np.column_stack(columns[:4])
    out[:, 5] = (columns[4] == 1).astype(float)
    out[:, 6] = (columns[5] != 0).astype(float)
    rows = np.arange(n)
    arm_buckets = {a: bucket(f"arm={a}", ARM_BUCKETS) for a in set(arms)}
    segment_buckets = {s: bucket(f"segment={s}", SEGMENT_BUCKETS) for s in set(segments)}
    arm_index = np.array([arm_buckets[a] for a in arms], dtype=int)
    segment_index = np.array([segment_buckets[s] for s in segments], dtype=int)
    out[rows, _ARM0 + arm_index] = 1.0
    out[rows, _SEGMENT0 + segment_index] = 1.0
    out[rows, _CROSS0 + segment_index] = out[:, 2]
    return out


def variant_features(
    score: Mapping[str, float] | RankScoreLike, repaired: bool, arm: str, segment: str
) -> list[float]:
    """One ranked variant's feature vector (:data:`VARIANT_FEATURES`), from its ``RankScore`` (or a dict of
    its fields), whether it was repaired, and the decision's arm and segment. Plain floats: JSON-storable."""
    names = ("score", "profile_relevance", "product_relevance", "diversity_penalty", "rank")
    if isinstance(score, Mapping):
        values = [float(score[name]) for name in names]
    else:
        values = [float(getattr(score, name)) for name in names]
    score_, profile, product, penalty, rank, flag = (np.array([v]) for v in [*values, float(repaired)])
    matrix = feature_matrix(score_, profile, product, penalty, rank, flag, [arm], [segment])
    return [float(v) for v in matrix[0]]


def share_best(features: Array, draws: Array) -> Array:
    """Per request, the share of weight ``draws`` (draws, features) under which each of its variants
    (``features``: requests, variants, features) scores highest. Identical variants tie in every draw and
    split their wins evenly; distinct ones tie with probability 0 (the first index would take it)."""
    requests, k = features.shape[:2]
    scores = np.matmul(draws[None], features.transpose(0, 2, 1))  # (requests, draws, variants)
    winners = scores.argmax(axis=2) + k * np.arange(requests)[:, None]
    wins = np.bincount(winners.ravel(), minlength=requests * k).reshape(requests, k) / len(draws)
    same = (features[:, :, None, :] == features[:, None, :, :]).all(axis=3).astype(float)
    return np.asarray((same @ wins[:, :, None])[:, :, 0] / same.sum(axis=2))


def _running_sum(start: Array, terms: Array) -> Array:
    """``start + terms[0] + terms[1] + …`` added strictly in order, so splitting the terms into batches
    never changes the result (a vectorized sum may add in any order)."""
    total = start.copy()
    for term in terms:
        total += term
    return total


@dataclass(eq=False)
class VariantPolicy:
    """Linear Thompson sampling over :data:`VARIANT_FEATURES` with a prior that follows the ranker.

    ``scale`` is the assumed reward noise (the posterior's spread), ``ridge`` the prior's weight in
    pseudo-observations, ``prior_score`` and ``prior_top`` the prior mean weights on the ranker's score and
    on being its top-ranked variant (all other prior means are 0)."""

    floor: float = DEFAULT_VARIANT_FLOOR
    draws: int = DEFAULT_DRAWS
    scale: float = 0.1
    ridge: float = 1.0
    prior_score: float = 0.1
    prior_top: float = 0.05
    version: int = 1
    name: str = "variant_ts"
    _precision: Array = field(init=False, repr=False)
    _targets: Array = field(init=False, repr=False)
    _samples: tuple[int, Array, Array] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.draws < MIN_DRAWS:
            raise ValueError(f"draws must be at least {MIN_DRAWS}, got {self.draws}")
        if not 0.0 <= self.floor < 1.0:
            raise ValueError(f"floor must be in [0, 1), got {self.floor}")
        if self.scale <= 0 or self.ridge <= 0:
            raise ValueError("scale and ridge must be positive")
        self._reset()

    def prior_mean(self) -> Array:
        """μ₀: ``prior_score`` on the ranker's score, ``prior_top`` on top_rank, 0 elsewhere."""
        mean = np.zeros(DIMENSION)
        mean[VARIANT_FEATURES.index("score")] = self.prior_score
        mean[VARIANT_FEATURES.index("top_rank")] = self.prior_top
        return mean

    def _reset(self) -> None:
        self._precision = self.ridge * np.eye(DIMENSION)
        self._targets = self.ridge * self.prior_mean()
        self._samples = None

    def posterior_mean(self) -> Array:
        """The posterior mean weights, in :data:`VARIANT_FEATURES` order."""
        return np.asarray(linalg.cho_solve((np.linalg.cholesky(self._precision), True), self._targets))

    def _sampled(self) -> tuple[int, Array, Array]:
        """(version, the weight draws, their variant-level columns), drawn once per version."""
        if self._samples is None or self._samples[0] != self.version:
            lower = np.linalg.cholesky(self._precision)  # A = L Lᵀ, so L⁻ᵀ z has covariance A⁻¹
            noise = np.random.default_rng([self.version, _SALT]).standard_normal((DIMENSION, self.draws))
            spread = linalg.solve_triangular(lower, noise, lower=True, trans="T")
            mean = linalg.cho_solve((lower, True), self._targets)
            draws = mean[:, None] + self.scale * spread
            variant_part = np.ascontiguousarray(draws[_VARIANT_COLUMNS].T)
            self._samples = (self.version, np.ascontiguousarray(draws.T), variant_part)
        return self._samples

    def weight_draws(self) -> Array:
        """This version's ``draws`` posterior weight vectors, (draws, features): seeded by the version."""
        return self._sampled()[1]

    def propensities_many(self, batch: Sequence[RequestFeatures] | Array) -> Array:
        """:meth:`propensities` of many requests with the same number of variants: (requests, k)."""
        features = np.asarray(batch, dtype=float)
        if features.ndim != 3 or features.shape[1] < 1 or features.shape[2] != DIMENSION:
            raise ValueError(f"expected (requests, k ≥ 1, {DIMENSION}) features, got {features.shape}")
        if not len(features):
            return np.zeros((0, features.shape[1]))
        if np.ptp(features[:, :, _DECISION_COLUMNS], axis=1).any():
            raise ValueError("a request's variants must share the decision's features (bias, arm, segment)")
        draws, varying = self._sampled()[2], features[:, :, _VARIANT_COLUMNS]
        best = np.vstack([share_best(varying[i : i + CHUNK], draws) for i in range(0, len(varying), CHUNK)])
        return np.vstack([with_floor(row, self.floor) for row in best])

    def propensities(self, features: RequestFeatures) -> Array:
        """Each of a request's variants' probability of being shown (floored, summing to 1); ``features``
        holds one :func:`variant_features` vector per variant, in the ranker's order (identical variants
        split their share)."""
        return self.propensities_many([features])[0]

    def choose(self, features: RequestFeatures, rng: np.random.Generator) -> tuple[int, float]:
        """Draw a variant from the propensities: (its index, its propensity)."""
        p = self.propensities(features)
        index = int(rng.choice(len(p), p=p))
        return index, float(p[index])

    def _fold(self, rows: Iterable[Row]) -> int:
        """Add rows to the sufficient statistics, in order (all or none: a bad row changes nothing); the
        number folded."""
        precision, targets, folded = self._precision, self._targets, 0
        iterator = iter(rows)
        while chunk := list(islice(iterator, CHUNK)):
            x = np.asarray([features for features, _ in chunk], dtype=float)
            r = np.asarray([reward for _, reward in chunk], dtype=float)
            if x.shape != (len(chunk), DIMENSION) or not (np.isfinite(x).all() and np.isfinite(r).all()):
                raise ValueError(f"each row needs {DIMENSION} finite features and a finite reward")
            precision = _running_sum(precision, x[:, :, None] * x[:, None, :])
            targets = _running_sum(targets, r[:, None] * x)
            folded += len(chunk)
        if folded:
            self._precision, self._targets, self._samples = precision, targets, None
        return folded

    def update(self, rows: Sequence[Row]) -> None:
        """Fold a batch of shown variants' (features, reward) in: a new version."""
        if self._fold(rows):
            self.version += 1

    def fit(self, rows: Iterable[Row], version: int) -> None:
        """Rebuild from stored rows (in their stored order; any iterable, read in chunks) into the prior and
        set the version: the same rows in the same order give the same state, however they were batched."""
        self._reset()
        self._fold(rows)
        self.version = version

    def export_state(self) -> dict[str, Any]:
        """The sufficient statistics as JSON-ready lists (floats round-trip JSON exactly)."""
        return {"precision": self._precision.tolist(), "targets": self._targets.tolist()}

    def load_state(
        self, state: Mapping[str, Sequence[float] | Sequence[Sequence[float]]], version: int
    ) -> None:
        """Restore :meth:`export_state`'s statistics as ``version`` (the same digest as the exporter's)."""
        precision = np.asarray(state["precision"], dtype=float)
        targets = np.asarray(state["targets"], dtype=float)
        if precision.shape != (DIMENSION, DIMENSION) or targets.shape != (DIMENSION,):
            raise ValueError("the stored variant-choice state does not match the feature vector")
        self._precision, self._targets, self._samples = precision, targets, None
        self.version = version

    def state_digest(self) -> str:
        """A SHA-256 of the version, the settings and the sufficient statistics: equal digests, equal
        propensities for every request."""
        digest = hashlib.sha256()
        settings = (self.version, self.floor, self.draws, self.scale, self.ridge, VARIANT_FEATURES)
        digest.update(repr(settings).encode())
        digest.update(np.ascontiguousarray(self._precision).tobytes())
        digest.update(np.ascontiguousarray(self._targets).tobytes())
        return digest.hexdigest()
