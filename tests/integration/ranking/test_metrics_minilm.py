"""Scorecard figures that need real embeddings: personalization and top-k cosine."""

from __future__ import annotations

from ranking.embedder import Embedder
from ranking.metrics import ProfilePair, Scorecard, mean_pairwise_cosine, personalization
from ranking.rank import Ranker
from tests.unit.ranking.fakes import make_request, make_variants

KETTLE = {
    "name": "Northwind Kettle",
    "brand": "Casa",
    "description": "Electric kettle",
    "category": "kitchen",
}
TEA = {
    "id": "a",
    "interests": ["gardening", "tea"],
    "recent_activity": ["bought a teapot"],
    "segment": "home",
}
GAMER = {"id": "b", "interests": ["gaming", "esports"], "recent_activity": ["searched for headphones"]}
TEA_COPY = "A calm cup of tea after an afternoon in the garden, from the Casa Northwind Kettle."
GAMER_COPY = (
    "Fuel late-night gaming and esports marathons: hot water in a flash from the Casa Northwind Kettle."
)


def test_personalization_on_contrasting_profiles(minilm_embedder: Embedder) -> None:
    tea, gamer = make_request(profile=TEA, product=KETTLE), make_request(profile=GAMER, product=KETTLE)
    matched = ProfilePair.from_requests(tea, make_variants(TEA_COPY), gamer, make_variants(GAMER_COPY))
    swapped = ProfilePair.from_requests(tea, make_variants(GAMER_COPY), gamer, make_variants(TEA_COPY))
    assert personalization([matched], minilm_embedder.embed) == 1.0
    assert personalization([swapped], minilm_embedder.embed) == 0.0
    assert personalization([matched, swapped], minilm_embedder.embed) == 0.5


def test_paraphrases_have_higher_pairwise_cosine(minilm_embedder: Embedder) -> None:
    paraphrases = minilm_embedder.embed(
        ["Stay dry on muddy trails.", "Keep dry on wet, muddy trails.", "Dry feet on muddy trails."]
    )
    varied = minilm_embedder.embed(
        ["Stay dry on muddy trails.", "Grip on rocky descents.", "Light at 380 g."]
    )
    high, low = mean_pairwise_cosine(paraphrases), mean_pairwise_cosine(varied)
    assert high is not None and low is not None and high > low + 0.2


def test_ranked_top_k_is_more_diverse_than_the_first_k(
    minilm_ranker: Ranker, minilm_embedder: Embedder
) -> None:
    from tests.unit.ranking.test_metrics import result

    texts = [
        "Stay dry on muddy trails with the waterproof Peak TrailRunner X.",
        "Keep your feet dry on wet, muddy trails in the waterproof Peak TrailRunner X.",
        "Grip that holds on steep rocky descents: meet the Peak TrailRunner X outsole.",
    ]
    results = [result(texts, first=3, repaired=0, rejected=[])]
    ranked = [minilm_ranker.rank(make_request(), results[0].variants, k=2)]
    first_two = [results[0].variants[:2]]
    embed = minilm_embedder.embed
    ranked_card = Scorecard.compute(results, ranked, embed=embed)
    naive_card = Scorecard.compute(results, first_two, embed=embed)
    assert ranked_card.mean_pairwise_cosine is not None and naive_card.mean_pairwise_cosine is not None
    assert ranked_card.mean_pairwise_cosine < naive_card.mean_pairwise_cosine
    assert ranked_card.distinct_2 is not None and naive_card.distinct_2 is not None
    assert ranked_card.distinct_2 > naive_card.distinct_2
