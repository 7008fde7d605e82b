"""The ranker's profile/product embedding cache: each repeated context embedded once, results unchanged."""

from __future__ import annotations

import logging
import threading

import pytest
import torch

from ranking.cache import EmbeddingCache
from ranking.rank import Ranker
from ranking.settings import RankingSettings
from ranking.texts import product_text, profile_text
from tests.unit.ranking.fakes import WordEmbedder, make_request, make_variants

SHOE = "Peak TrailRunner X waterproof trail running shoe"
GRIP = "Grippy outsole for hiking outdoor trails"
COZY = "Cozy knitted sweaters for chilly evenings at home"
KETTLE = "A fast electric kettle for tea"


def embedded(embedder: WordEmbedder) -> list[str]:
    """Every text the embedder was asked for, over all calls."""
    return [text for call in embedder.calls for text in call]


def test_a_repeated_profile_and_product_are_embedded_once() -> None:
    embedder = WordEmbedder()
    ranker = Ranker(embedder, RankingSettings())
    request = make_request()
    for variants in (make_variants(SHOE, GRIP), make_variants(COZY), make_variants(KETTLE, SHOE)):
        ranker.rank(request, variants, k=2)
    texts = embedded(embedder)
    assert texts.count(profile_text(request.profile)) == 1
    assert texts.count(product_text(request.product)) == 1
    assert texts.count(SHOE) == 2  # variants are never cached: each call embeds its own
    assert ranker.context_cache.stats() == {"size": 2, "max_size": 2048, "hits": 4, "misses": 2}


def test_a_batch_shares_cached_contexts_with_later_calls() -> None:
    embedder = WordEmbedder()
    ranker = Ranker(embedder, RankingSettings())
    other = make_request(product={"name": "Northwind Kettle", "description": "Electric kettle"})
    ranker.rank_many([(make_request(), make_variants(SHOE), 1), (other, make_variants(KETTLE), 1)])
    ranker.rank_many([(other, make_variants(COZY, GRIP), 1)])
    assert embedder.calls[1] == [COZY, GRIP]


@pytest.mark.parametrize("k", [1, 3])
def test_results_are_identical_to_uncached(k: int) -> None:
    other = make_request(product={"name": "Northwind Kettle", "description": "Electric kettle"})
    rounds = [
        [(make_request(), make_variants(SHOE, GRIP, COZY), k)],
        [(other, make_variants(KETTLE, COZY), k), (make_request(), make_variants(GRIP, KETTLE, SHOE), k)],
        [(make_request(), make_variants(COZY, SHOE), k), (other, [], k)],
    ]
    cached = Ranker(WordEmbedder(), RankingSettings())
    uncached = Ranker(WordEmbedder(), RankingSettings(embed_cache_size=0))
    for items in rounds:
        assert cached.rank_many(items) == uncached.rank_many(items)
    assert cached.context_cache.hits > 0
    assert len(uncached.context_cache) == 0 and uncached.context_cache.hits == 0


def test_only_variants_left_to_embed_still_rank() -> None:
    """A call whose contexts are all cached embeds just the variants and keeps their order."""
    embedder = WordEmbedder()
    ranker = Ranker(embedder, RankingSettings())
    first = ranker.rank(make_request(), make_variants(SHOE, GRIP, COZY), k=3)
    again = ranker.rank(make_request(), make_variants(SHOE, GRIP, COZY), k=3)
    assert again == first
    assert embedder.calls[1] == [SHOE, GRIP, COZY]


def test_lru_is_bounded_and_keeps_the_recently_used() -> None:
    cache = EmbeddingCache(2)
    cache.store(["a", "b"], torch.eye(2))
    assert set(cache.lookup(["a"])) == {"a"}  # "a" is now the most recent
    cache.store(["c"], torch.ones(1, 2))
    assert len(cache) == 2
    assert set(cache.lookup(["a", "b", "c"])) == {"a", "c"}
    assert torch.equal(cache.lookup(["a"])["a"], torch.tensor([1.0, 0.0]))


def test_size_zero_stores_nothing_and_negative_is_refused() -> None:
    cache = EmbeddingCache(0)
    cache.store(["a"], torch.ones(1, 3))
    assert len(cache) == 0 and cache.lookup(["a"]) == {}
    with pytest.raises(ValueError, match="max_size"):
        EmbeddingCache(-1)


def test_stored_rows_are_copies() -> None:
    cache = EmbeddingCache(4)
    rows = torch.ones(2, 3)
    cache.store(["a", "b"], rows)
    rows.zero_()
    assert torch.equal(cache.lookup(["a"])["a"], torch.ones(3))


def test_thread_safe_under_concurrent_use() -> None:
    cache = EmbeddingCache(8)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(500):
                text = f"t{(i + offset) % 16}"
                cache.store([text], torch.full((1, 4), float(i)))
                cache.lookup([text, f"t{i % 16}"])
        except BaseException as exc:  # pragma: no cover - only on a race
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) == 8
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == 4 * 500 * 2


def test_cache_never_logs_texts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ranker = Ranker(WordEmbedder(), RankingSettings())
    request = make_request()
    for _ in range(2):
        ranker.rank(request, make_variants(SHOE, SHOE, GRIP), k=2)
    secret = profile_text(request.profile)
    assert all(secret not in record.getMessage() for record in caplog.records)
    assert all(secret not in str(record.__dict__) for record in caplog.records)
