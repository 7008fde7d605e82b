"""Scorecard functions on hand-made inputs."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from core.schema import CreativeResult, GenerationStats, RejectedVariant, Sampling, TemplateRef, Usage
from ranking.metrics import (
    ProfilePair,
    Scorecard,
    distinct_n,
    faithfulness_violations,
    lexical_personalization,
    mean_pairwise_cosine,
    name_repairs,
    ngrams,
    novelty,
    pass_rates,
    personalization,
    tokens,
)
from tests.unit.ranking.fakes import WordEmbedder, make_request, make_variants


def result(
    texts: list[str], first: int, repaired: int, rejected: list[list[str]], regenerated: int = 0
) -> CreativeResult:
    variants = make_variants(*texts)
    return CreativeResult(
        request_id="r",
        placement="push",
        template=TemplateRef(name="push", version=1),
        model="m",
        seed=0,
        k=len(texts),
        variants=variants,
        rejected=[RejectedVariant(attempt=0, seed=None, reasons=r, raw="{}") for r in rejected],
        stats=GenerationStats(
            requested=len(texts),
            returned=len(texts),
            valid_first_try=first,
            repaired=repaired,
            regenerated=regenerated,
            rejected=len(rejected),
            rounds=1,
        ),
        usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        sampling=Sampling(n=len(texts), k=len(texts), temperature=0.8, top_p=0.95),
        timings={},
    )


def test_tokens_and_ngrams() -> None:
    assert tokens("Don't stop: RUN, run!") == ["don't", "stop", "run", "run"]
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert ngrams(["a"], 2) == []


def test_distinct_n_exact_values() -> None:
    texts = ["the cat sat", "the cat ran"]
    assert distinct_n(texts, 1) == 4 / 6  # the, cat, sat, ran out of 6
    assert distinct_n(texts, 2) == 3 / 4  # (the cat) twice, (cat sat), (cat ran)
    assert distinct_n(["a b", "c d"], 2) == 1.0
    assert distinct_n(["same words", "same words"], 1) == 0.5
    assert distinct_n([], 1) == 0.0
    assert distinct_n(["one"], 2) == 0.0
    with pytest.raises(ValueError):
        distinct_n(["x"], 0)


def test_mean_pairwise_cosine() -> None:
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs: 0, 1/sqrt2, 1/sqrt2
    assert mean_pairwise_cosine(vectors) == pytest.approx((2 / math.sqrt(2)) / 3)
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [2.0, 0.0]])) == pytest.approx(1.0)
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0]])) is None


def test_novelty() -> None:
    template = "Write a short friendly push notification about the product"
    assert novelty("Write a short friendly push notification", template) == 0.0
    assert novelty("Trail shoes that stay dry", template) == 1.0
    # bigrams: (short friendly) echoed, (friendly shoes) new
    assert novelty("short friendly shoes", template) == 0.5
    assert novelty("push", template) == 0.0  # one word: compared word by word
    assert novelty("", template) == 0.0
    assert novelty("short friendly shoes", template, n=1) == pytest.approx(1 / 3)  # only "shoes" is new


def test_pass_rates_and_faithfulness() -> None:
    results = [
        result(["a", "b", "c"], first=2, repaired=1, rejected=[["price '$10' is not in the product facts"]]),
        result(
            ["d"],
            first=0,
            repaired=0,
            regenerated=1,
            rejected=[["headline: too long"], ["number '5' is not in the product facts", "forbidden word"]],
        ),
    ]
    assert pass_rates(results) == (2 / 7, 4 / 7)
    assert faithfulness_violations(results) == 2
    assert pass_rates([]) == (None, None)


def test_personalization_counts_pairs_told_apart() -> None:
    runner = "Interests: trail running, hiking."
    cook = "Interests: baking, cooking."
    good = ProfilePair(
        profile_a=runner, copy_a=["hiking and trail running"], profile_b=cook, copy_b=["baking"]
    )
    swapped = ProfilePair(profile_a=runner, copy_a=["baking"], profile_b=cook, copy_b=["hiking"])
    one_sided = ProfilePair(profile_a=runner, copy_a=["trail"], profile_b=cook, copy_b=["trail"])
    embed = WordEmbedder()
    assert personalization([good], embed.embed) == 1.0
    assert personalization([good, swapped, one_sided], embed.embed) == pytest.approx(1 / 3)
    assert len(embed.calls) == 2
    empty = ProfilePair(profile_a=runner, copy_a=[], profile_b=cook, copy_b=["x"])
    assert personalization([empty], embed.embed) is None


def test_profile_pair_from_requests() -> None:
    a = make_request()
    b = make_request(profile={"id": "u2", "interests": ["tea"]})
    pair = ProfilePair.from_requests(a, make_variants("x", "y"), b, make_variants("z"))
    assert pair.profile_b == "Interests: tea." and pair.copy_a == ["x", "y"] and pair.copy_b == ["z"]


def test_scorecard() -> None:
    results = [
        result(
            ["the cat sat", "the cat ran"],
            first=1,
            repaired=1,
            rejected=[["price is not in the product facts"]],
        ),
        result(["a b", "c d", "e f"], first=3, repaired=0, rejected=[]),
    ]
    card = Scorecard.compute(results, embed=WordEmbedder().embed, template_texts="the cat")
    expected: dict[str, Any] = {
        "requests": 2,
        "candidates": 6,
        "valid_first_try_rate": 4 / 6,
        "valid_after_repair_rate": 5 / 6,
        "regenerated": 0,
        "faithfulness_violations": 1,
        "faithfulness_violation_rate": 1 / 6,
        "distinct_1": (4 / 6 + 1.0) / 2,
        "distinct_2": (3 / 4 + 1.0) / 2,
        "personalization": None,
    }
    assert card.model_dump(include=set(expected)) == pytest.approx(expected)
    # novelty per variant: 0.5, 0.5, then 1.0 three times.
    assert card.novelty == pytest.approx((0.5 + 0.5 + 3.0) / 5)
    assert card.mean_pairwise_cosine is not None and 0 <= card.mean_pairwise_cosine < 1


def test_scorecard_on_ranked_subsets_and_without_embeddings() -> None:
    results = [result(["the cat sat", "the cat ran"], first=2, repaired=0, rejected=[])]
    card = Scorecard.compute(results, [make_variants("the cat sat")], template_texts=["dog"])
    assert card.distinct_1 == 1.0 and card.novelty == 1.0
    assert card.mean_pairwise_cosine is None and card.personalization is None
    with pytest.raises(ValueError, match="ranked lists"):
        Scorecard.compute(results, [])
    with pytest.raises(ValueError, match="template texts"):
        Scorecard.compute(results, template_texts=["a", "b"])
    assert Scorecard.compute([]).requests == 0


def test_name_repairs_count_returned_variants_whose_name_was_respelled() -> None:
    done = result(["Peak TrailRunner X", "Trail shoes", "TrailRunner X"], first=1, repaired=2, rejected=[])
    done.variants[0].repairs.append("body: spelled 'Peak TrailRuner X' as 'Peak TrailRunner X'")
    done.variants[2].repairs.append("body: cut from 90 to the 80-char limit at a word")
    assert name_repairs([done]) == 1
    assert Scorecard.compute([done]).name_repairs == 1


def test_the_lexical_judge_needs_each_copy_to_use_its_own_profiles_words() -> None:
    def pair(copy_a: str, copy_b: str) -> ProfilePair:
        return ProfilePair(
            profile_a="a",
            copy_a=[copy_a],
            profile_b="b",
            copy_b=[copy_b],
            words_a=["hiking", "viewed trail maps"],
            words_b=["video games", "viewed consoles"],
        )

    told_apart = pair("Made for hikes on any trail", "Built for gaming marathons")  # stems: hike, trail, game
    swapped = pair("Built for gaming marathons", "Made for hikes on any trail")
    one_sided = pair("Made for hikes", "Made for everyone")  # b's copy uses neither: a tie is a miss
    shared_only = pair("Viewed by many", "Viewed by all")  # "viewed" is in both profiles: not a signal
    assert lexical_personalization([told_apart]) == 1.0
    assert lexical_personalization([swapped]) == 0.0
    assert lexical_personalization([told_apart, one_sided, shared_only, swapped]) == 0.25
    no_words = ProfilePair(profile_a="a", copy_a=["x"], profile_b="b", copy_b=["y"])
    assert lexical_personalization([no_words]) is None


def test_the_lexical_judge_ignores_the_products_words_and_matches_word_forms() -> None:
    def pair(product_words: list[str]) -> ProfilePair:
        return ProfilePair(
            profile_a="a",
            copy_a=["Work shoes for teachers on their feet all day"],  # "teachers" ~ "teaching"
            profile_b="b",
            copy_b=["Work shoes for long shifts"],
            words_a=["teaching", "classroom projects"],
            words_b=["nursing", "searched for work shoes"],
            product_words=product_words,
        )

    # without the product's words, "work shoes" in a's copy counts for b (b searched for them): a miss
    assert lexical_personalization([pair([])]) == 0.0
    # with them, a's copy is a's ("teachers"), but b's names none of b's own words: still a miss
    assert lexical_personalization([pair(["Cloudstep Shift", "work shoes"])]) == 0.0
    teacher_only = pair(["work shoes"])
    teacher_only.copy_b = ["Work shoes for nurses on long shifts"]  # "nurses" ~ "nursing"
    assert lexical_personalization([teacher_only]) == 1.0
