"""Choose the top-k variants of each request for relevance to the profile and product, and diversity.

Per request: embed the profile text, the product text and every variant (all requests of a batch in ONE
``encode`` call; profile and product embeddings come from an LRU cache when seen before); relevance is
the weighted cosine to the profile and to the product (or, when a cross-encoder is configured, its
scores for the same pairs); exact and near duplicates are dropped, keeping the most relevant of each
group; then MMR picks up to ``k``, first among the variants whose every word is spelled (in an English word
list or the request's own text: ``ranking.spelling``; English requests only), then, if fewer than ``k``,
among the others (``prefer_spelled``). Each returned variant is a copy with ``score`` filled:
``score = mmr_lambda * relevance - diversity_penalty``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from sentence_transformers import util

from core.schema import CreativeRequest, RankScore, Variant
from ranking.cache import EmbeddingCache
from ranking.cross import CrossEncoderScorer, PairScorer
from ranking.embedder import Embedder, TextEmbedder
from ranking.mmr import drop_duplicates, mmr_select
from ranking.settings import RankingSettings
from ranking.spelling import load_word_list, unknown_words
from ranking.texts import dedup_key, product_text, profile_text, variant_text

logger = logging.getLogger(__name__)

RankItem = tuple[CreativeRequest, list[Variant], int]

DIGITS = 4


@dataclass
class _Scored:
    """One request's candidates: texts, embedding rows, similarities, relevance parts, dedup survivors."""

    variants: list[Variant]
    texts: list[str]
    profile: str
    product: str
    k: int
    spelled: list[bool]
    rows: list[int]
    similarity: list[list[float]] = field(default_factory=list)
    profile_relevance: list[float] = field(default_factory=list)
    product_relevance: list[float] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)


class Ranker:
    """Ranks variants with an embedder, settings and an optional cross-encoder.

    Profile and product texts repeat (across a request's variants, a batch's rows, an API client's
    calls), so their embeddings are kept in :attr:`context_cache` (``embed_cache_size`` entries, LRU by
    exact text). Variant texts are always embedded: each is new copy, and caching them would only push
    the contexts out.
    """

    def __init__(
        self,
        embedder: TextEmbedder,
        settings: RankingSettings | None = None,
        cross_encoder: PairScorer | None = None,
    ):
        self.embedder = embedder
        self.settings = settings or RankingSettings()
        self.cross_encoder = cross_encoder
        self.context_cache = EmbeddingCache(self.settings.embed_cache_size)

    @classmethod
    def from_settings(cls, settings: RankingSettings | None = None) -> Ranker:
        """Load the embedder (and the cross-encoder, when configured) the settings name."""
        settings = settings or RankingSettings()
        if settings.prefer_spelled:
            load_word_list()
        return cls(Embedder.from_settings(settings), settings, CrossEncoderScorer.from_settings(settings))

    def rank(self, request: CreativeRequest, variants: list[Variant], k: int) -> list[Variant]:
        """The top ``k`` of ``variants`` in rank order, as copies with ``score`` set."""
        return self.rank_many([(request, variants, k)])[0]

    def rank_many(self, items: Sequence[RankItem]) -> list[list[Variant]]:
        """:meth:`rank` for many requests, embedding every text of every item in one call."""
        for _, _, k in items:
            if k < 0:
                raise ValueError(f"k must be >= 0, got {k}")
        scored = self._embed_and_score(items)
        if self.cross_encoder is not None:
            self._rescore(scored)
        return [self._select(item) if item is not None else [] for item in scored]

    def _relevance(self, item: _Scored, i: int) -> float:
        s = self.settings
        w_profile = s.profile_weight if item.profile else 0.0
        w_product = s.product_weight
        if w_profile + w_product == 0:  # only a profile-weighted ranker on a request without a profile
            return 0.0
        return (w_profile * item.profile_relevance[i] + w_product * item.product_relevance[i]) / (
            w_profile + w_product
        )

    def _embed_and_score(self, items: Sequence[RankItem]) -> list[_Scored | None]:
        """Embed all texts of all items at once (each distinct text once), then score each item."""
        rows: dict[str, int] = {}
        contexts: set[str] = set()
        scored: list[_Scored | None] = []
        for request, variants, k in items:
            if not variants or k == 0:
                scored.append(None)
                continue
            texts = [variant_text(v) for v in variants]
            profile, product = profile_text(request.profile), product_text(request.product)
            contexts.update((profile, product) if profile else (product,))
            wanted = [*texts, product, profile] if profile else [*texts, product]
            english = request.profile.language.split("-")[0].lower() == "en"
            spelled = [not english or self._spelled(text, (profile, product)) for text in texts]
            ids = [rows.setdefault(t, len(rows)) for t in wanted]
            scored.append(_Scored(variants, texts, profile, product, k, spelled, ids))
        if not rows:
            return scored
        vectors = self._vectors(list(rows), contexts)
        for item in scored:
            if item is not None:
                self._score(item, vectors[item.rows])
        return scored

    def _spelled(self, text: str, known: tuple[str, str]) -> bool:
        return not self.settings.prefer_spelled or not unknown_words(text, known)

    def _vectors(self, texts: list[str], contexts: set[str]) -> torch.Tensor:
        """Rows for ``texts`` in order: cached contexts from the cache, all others in one ``embed`` call."""
        cached = self.context_cache.lookup(t for t in texts if t in contexts)
        missing = [t for t in texts if t not in cached]
        if not missing:
            return torch.stack([cached[t] for t in texts])
        fresh = self.embedder.embed(missing)
        new_contexts = [i for i, t in enumerate(missing) if t in contexts]
        if new_contexts:
            self.context_cache.store([missing[i] for i in new_contexts], fresh[new_contexts])
        if not cached:
            return fresh
        position = {t: i for i, t in enumerate(missing)}
        return torch.stack([cached[t] if t in cached else fresh[position[t]] for t in texts])

    def _score(self, item: _Scored, vectors: torch.Tensor) -> None:
        """Similarities and relevance from ``vectors`` (variants, then product, then profile if any)."""
        n = len(item.texts)
        candidates = vectors[:n]
        item.similarity = util.cos_sim(candidates, candidates).tolist()
        item.product_relevance = util.cos_sim(candidates, vectors[n : n + 1])[:, 0].tolist()
        if item.profile:
            item.profile_relevance = util.cos_sim(candidates, vectors[n + 1 : n + 2])[:, 0].tolist()
        else:
            item.profile_relevance = [0.0] * n
        relevance = [self._relevance(item, i) for i in range(n)]
        keys = [dedup_key(t) for t in item.texts]
        item.kept = drop_duplicates(keys, relevance, item.similarity, self.settings.duplicate_threshold)
        if len(item.kept) < n:
            logger.debug("duplicates dropped", extra={"dropped": n - len(item.kept)})

    def _rescore(self, scored: list[_Scored | None]) -> None:
        """Replace the relevance parts of surviving candidates with cross-encoder scores (one call)."""
        assert self.cross_encoder is not None
        pairs: list[tuple[str, str]] = []
        for item in scored:
            if item is None:
                continue
            for i in item.kept:
                if item.profile:
                    pairs.append((item.profile, item.texts[i]))
                pairs.append((item.product, item.texts[i]))
        values = iter(self.cross_encoder.score(pairs))
        for item in scored:
            if item is None:
                continue
            for i in item.kept:
                if item.profile:
                    item.profile_relevance[i] = next(values)
                item.product_relevance[i] = next(values)

    def _select(self, item: _Scored) -> list[Variant]:
        s = self.settings
        relevance = [self._relevance(item, i) for i in range(len(item.texts))]
        first = [i for i in item.kept if item.spelled[i]]
        picks = mmr_select(relevance, item.similarity, item.k, s.mmr_lambda, first)
        if len(picks) < item.k:
            rest = [i for i in item.kept if not item.spelled[i]]
            done = [pick.index for pick in picks]
            picks += mmr_select(relevance, item.similarity, item.k - len(picks), s.mmr_lambda, rest, done)
        source = "cross_encoder" if self.cross_encoder is not None else "embedding"
        return [
            item.variants[pick.index].model_copy(
                update={
                    "score": RankScore(
                        rank=rank,
                        score=round(pick.score, DIGITS),
                        profile_relevance=round(item.profile_relevance[pick.index], DIGITS),
                        product_relevance=round(item.product_relevance[pick.index], DIGITS),
                        diversity_penalty=round(pick.penalty, DIGITS),
                        relevance=round(relevance[pick.index], DIGITS),
                        relevance_source=source,
                    )
                }
            )
            for rank, pick in enumerate(picks, start=1)
        ]
