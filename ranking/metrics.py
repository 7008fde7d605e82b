"""The evaluation scorecard: constraint pass rates, faithfulness, diversity, personalization, novelty.

Pure functions over results, texts and embeddings; :class:`Scorecard` gathers them for tests, benchmarks
and the batch report. Embedding-based figures take an ``embed`` callable (e.g. ``Embedder.embed``)
returning unit rows, so they can be computed with the real embedder or a fake one. Personalization has a
second judge that uses no embedding (:func:`lexical_personalization`: a profile's own interest words in
its copy), so the ranker's embedding is never the only grader of its own choices.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache

import snowballstemmer
import torch
from pydantic import BaseModel, Field
from sentence_transformers import util

from core.schema import CreativeRequest, CreativeResult, Profile, Variant
from ranking.spelling import unknown_words
from ranking.texts import profile_text

EmbedFn = Callable[[Sequence[str]], torch.Tensor]

FAITHFULNESS_MARKER = "not in the product facts"
NAME_REPAIR_MARKER = ": spelled "  # the writer's repair of a near miss of the product's or brand's name

_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, inner apostrophes); punctuation is dropped."""
    return _WORD.findall(text.lower())


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The contiguous ``n``-grams of ``words``."""
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n: unique ``n``-grams / all ``n``-grams over ``texts`` (0.0 when there are none)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    grams = [g for text in texts for g in ngrams(tokens(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def mean_pairwise_cosine(embeddings: torch.Tensor) -> float | None:
    """Mean cosine over all pairs of rows; None for fewer than two rows."""
    count = embeddings.shape[0]
    if count < 2:
        return None
    sims = util.cos_sim(embeddings, embeddings)
    upper = torch.triu_indices(count, count, offset=1)
    return float(sims[upper[0], upper[1]].mean())


def novelty(text: str, template_text: str, n: int = 2) -> float:
    """Share of the copy's word ``n``-grams that are not in ``template_text`` (1 = all new, 0 = echo).

    Copy shorter than ``n`` words is compared word by word; empty copy scores 0.
    """
    words = tokens(text)
    size = n if len(words) >= n else 1
    grams = ngrams(words, size)
    if not grams:
        return 0.0
    seen = set(ngrams(tokens(template_text), size))
    return sum(g not in seen for g in grams) / len(grams)


def candidates(result: CreativeResult) -> int:
    """Every candidate written for a request: returned plus rejected, over all rounds."""
    return result.stats.returned + result.stats.rejected


def pass_rates(results: Sequence[CreativeResult]) -> tuple[float | None, float | None]:
    """(valid first try, valid after repair) as shares of all candidates; None without candidates.

    *First try*: passed every check as generated, in the first round. *After repair*: passed every check,
    as generated or after repair (every returned variant).
    """
    total = sum(candidates(r) for r in results)
    if total == 0:
        return None, None
    return sum(r.stats.valid_first_try for r in results) / total, sum(
        r.stats.returned for r in results
    ) / total


def faithfulness_violations(results: Sequence[CreativeResult]) -> int:
    """Rejected candidates with at least one number, price or percentage not in the product facts."""
    return sum(
        any(FAITHFULNESS_MARKER in reason for reason in rejected.reasons)
        for result in results
        for rejected in result.rejected
    )


def name_repairs(results: Sequence[CreativeResult]) -> int:
    """Returned variants whose copy misspelled the product's or brand's name as generated (repaired)."""
    return sum(
        any(NAME_REPAIR_MARKER in repair for repair in variant.repairs)
        for result in results
        for variant in result.variants
    )


def profile_words(profile: Profile) -> list[str]:
    """A profile's interests and recent activity: the words copy written for it may speak to."""
    return [*profile.interests, *profile.recent_activity]


def product_words(request: CreativeRequest) -> list[str]:
    """The product's facts as text: words any copy of it may use, whoever it is written for."""
    product = request.product
    return [product.name, product.brand or "", product.description, product.category or "", *product.features]


class ProfilePair(BaseModel):
    """Two contrasting profiles on the same product, each with the copy written (or ranked) for it."""

    profile_a: str
    copy_a: list[str]
    profile_b: str
    copy_b: list[str]
    words_a: list[str] = Field(default_factory=list, description="Profile a's interests and activity.")
    words_b: list[str] = Field(default_factory=list, description="Profile b's interests and activity.")
    product_words: list[str] = Field(default_factory=list, description="The product's facts (not personal).")

    @classmethod
    def from_requests(
        cls,
        request_a: CreativeRequest,
        copy_a: Sequence[Variant],
        request_b: CreativeRequest,
        copy_b: Sequence[Variant],
    ) -> ProfilePair:
        """A pair from two requests and their variants (profiles rendered as the ranker renders them)."""
        return cls(
            profile_a=profile_text(request_a.profile),
            copy_a=[v.text for v in copy_a],
            profile_b=profile_text(request_b.profile),
            copy_b=[v.text for v in copy_b],
            words_a=profile_words(request_a.profile),
            words_b=profile_words(request_b.profile),
            product_words=product_words(request_a),
        )


def personalization(pairs: Sequence[ProfilePair], embed: EmbedFn) -> float | None:
    """Share of pairs where each profile's copy is, on mean cosine, closer to its own profile than to the
    other's; pairs with an empty side are skipped; None when no pair counts. One ``embed`` call."""
    usable = [p for p in pairs if p.copy_a and p.copy_b and p.profile_a and p.profile_b]
    if not usable:
        return None
    rows: dict[str, int] = {}
    for p in usable:
        for text in (p.profile_a, p.profile_b, *p.copy_a, *p.copy_b):
            rows.setdefault(text, len(rows))
    vectors = embed(list(rows))

    def mean_cos(copy: list[str], profile: str) -> float:
        return float(util.cos_sim(vectors[[rows[t] for t in copy]], vectors[[rows[profile]]]).mean())

    wins = sum(
        mean_cos(p.copy_a, p.profile_a) > mean_cos(p.copy_a, p.profile_b)
        and mean_cos(p.copy_b, p.profile_b) > mean_cos(p.copy_b, p.profile_a)
        for p in usable
    )
    return wins / len(usable)


# words too common to tell profiles apart (they say nothing about a person's interests)
STOPWORDS = frozenset(
    "a an and the of for to in on at by with from about into over after before my your our their his her "
    "its is are was were be been being viewed bought browsed searched looked added cart new recently "
    "some any all more most very just".split()
)


@cache
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


def stems(texts: Iterable[str]) -> set[str]:
    """The Snowball stems of the content words of ``texts``."""
    words = [w for text in texts for w in tokens(text) if w not in STOPWORDS and not w.isdigit()]
    return set(_stemmer().stemWords(words))


MIN_SHARED_STEM = 4  # stems this long that start the same count as one word ("teach" ~ "teacher")


def _same_word(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= MIN_SHARED_STEM and (a.startswith(b) or b.startswith(a)))


def _hits(used: set[str], words: set[str]) -> int:
    return sum(any(_same_word(u, w) for u in used) for w in words)


def uses_more_own_words(used: set[str], own: set[str], other: set[str]) -> bool:
    """True when the stems ``used`` match more of ``own`` than of ``other`` (the lexical judge's rule)."""
    return _hits(used, own) > _hits(used, other)


def _prefers_own(copy: Sequence[str], own: set[str], other: set[str]) -> bool:
    return uses_more_own_words(stems(copy), own, other)


def own_words(
    words_a: Iterable[str], words_b: Iterable[str], product: Iterable[str]
) -> tuple[set[str], set[str]]:
    """The stems only profile a has and only profile b has, the product's own words left out (every copy
    of the product may say them)."""
    product_stems = stems(product)
    a, b = stems(words_a) - product_stems, stems(words_b) - product_stems
    return a - b, b - a


def lexical_personalization(pairs: Sequence[ProfilePair]) -> float | None:
    """Share of pairs where each side's copy uses more of its own profile's words than of the other's
    (stems, or stems that start alike: "teaching" ~ "teachers"). Words both profiles share, and the
    product's own words (every copy may say them), do not count; both directions must hold; a tie is a
    miss. Pairs whose profiles have no words of their own are skipped; None when none counts."""
    wins = counted = 0
    for pair in pairs:
        own_a, own_b = own_words(pair.words_a, pair.words_b, pair.product_words)
        if not (pair.copy_a and pair.copy_b and own_a and own_b):
            continue
        counted += 1
        wins += _prefers_own(pair.copy_a, own_a, own_b) and _prefers_own(pair.copy_b, own_b, own_a)
    return wins / counted if counted else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


class Scorecard(BaseModel):
    """Quality figures over a set of results; diversity and novelty are per request, then averaged."""

    requests: int
    candidates: int = Field(description="Candidates written, over all rounds (returned + rejected).")
    valid_first_try_rate: float | None = Field(description="Share of candidates valid as generated.")
    valid_after_repair_rate: float | None = Field(description="Share of candidates valid, repaired or not.")
    regenerated: int = Field(description="Returned variants that came from a regeneration round.")
    faithfulness_violations: int = Field(description="Rejected candidates stating numbers not in the facts.")
    faithfulness_violation_rate: float | None
    name_repairs: int = Field(
        default=0, description="Returned variants whose product or brand name was misspelled as generated."
    )
    distinct_1: float | None = Field(description="Mean over requests of distinct-1 among the top-k.")
    distinct_2: float | None = Field(description="Mean over requests of distinct-2 among the top-k.")
    mean_pairwise_cosine: float | None = Field(description="Mean over requests of top-k pairwise cosine.")
    personalization: float | None = Field(description="Share of contrasting profile pairs told apart.")
    lexical_personalization: float | None = Field(
        default=None, description="The same, judged by each profile's own interest words (not embeddings)."
    )
    novelty: float | None = Field(description="Mean novelty of the top-k against the template text.")
    misspelled_rate: float | None = Field(
        default=None,
        description="Share of the top-k with a word neither in an English word list nor the prompt.",
    )

    @classmethod
    def compute(
        cls,
        results: Sequence[CreativeResult],
        ranked: Sequence[Sequence[Variant]] | None = None,
        *,
        embed: EmbedFn | None = None,
        template_texts: Sequence[str] | str | None = None,
        pairs: Sequence[ProfilePair] = (),
    ) -> Scorecard:
        """Score ``results``; ``ranked`` are their top-k lists (default: each result's variants).

        ``embed`` enables the cosine and personalization figures; ``template_texts`` (one per result,
        or one for all) enables novelty; ``pairs`` are the contrasting profile pairs.
        """
        top = [list(r.variants) for r in results] if ranked is None else [list(v) for v in ranked]
        if len(top) != len(results):
            raise ValueError(f"{len(top)} ranked lists for {len(results)} results")
        texts = [[v.text for v in variants] for variants in top]
        total = sum(candidates(r) for r in results)
        first, after = pass_rates(results)
        violations = faithfulness_violations(results)

        cosine = None
        if embed is not None:
            flat = [t for group in texts for t in group]
            vectors = embed(flat) if flat else torch.zeros((0, 1))
            per_request, start = [], 0
            for group in texts:
                per_request.append(mean_pairwise_cosine(vectors[start : start + len(group)]))
                start += len(group)
            cosine = _mean(per_request)

        novel = misspelled = None
        if template_texts is not None:
            templates = (
                [template_texts] * len(texts) if isinstance(template_texts, str) else list(template_texts)
            )
            if len(templates) != len(texts):
                raise ValueError(f"{len(templates)} template texts for {len(texts)} results")
            novel = _mean(
                [novelty(t, tpl) for group, tpl in zip(texts, templates, strict=True) for t in group]
            )
            misspelled = _mean(
                [
                    float(bool(unknown_words(t, [tpl])))
                    for group, tpl in zip(texts, templates, strict=True)
                    for t in group
                ]
            )

        return cls(
            requests=len(results),
            candidates=total,
            valid_first_try_rate=first,
            valid_after_repair_rate=after,
            regenerated=sum(r.stats.regenerated for r in results),
            faithfulness_violations=violations,
            faithfulness_violation_rate=violations / total if total else None,
            name_repairs=name_repairs(results),
            distinct_1=_mean([distinct_n(g, 1) if g else None for g in texts]),
            distinct_2=_mean([distinct_n(g, 2) if g else None for g in texts]),
            mean_pairwise_cosine=cosine,
            personalization=personalization(pairs, embed) if pairs and embed is not None else None,
            lexical_personalization=lexical_personalization(pairs) if pairs else None,
            novelty=novel,
            misspelled_rate=misspelled,
        )
