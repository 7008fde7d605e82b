"""A bounded, thread-safe LRU of text embeddings, keyed by the exact text.

The ranker keeps the profile and product texts here: they repeat across a request's variants and across
a batch's rows (a few audiences and products, many rows), while each variant text is new copy. Only counts
are ever reported; the texts (profile fields, product facts) are never logged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import torch


class EmbeddingCache:
    """Least-recently-used map from text to its embedding row; ``max_size`` 0 turns it off."""

    def __init__(self, max_size: int):
        if max_size < 0:
            raise ValueError(f"max_size must be >= 0, got {max_size}")
        self.max_size = max_size
        self.hits = 0
        self.misses = 0
        self._rows: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def lookup(self, texts: Iterable[str]) -> dict[str, torch.Tensor]:
        """The cached rows among ``texts`` (each marked recently used); counts a hit or miss per text."""
        found: dict[str, torch.Tensor] = {}
        with self._lock:
            for text in texts:
                row = self._rows.get(text)
                if row is None:
                    self.misses += 1
                    continue
                self._rows.move_to_end(text)
                found[text] = row
                self.hits += 1
        return found

    def store(self, texts: Iterable[str], rows: torch.Tensor) -> None:
        """Remember ``rows[i]`` for ``texts[i]``, evicting the least recently used beyond ``max_size``."""
        if self.max_size == 0:
            return
        with self._lock:
            for text, row in zip(texts, rows, strict=True):
                self._rows[text] = row.detach().clone()  # a copy: no view keeps the whole batch alive
                self._rows.move_to_end(text)
            while len(self._rows) > self.max_size:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        """Forget every row and reset the counters."""
        with self._lock:
            self._rows.clear()
            self.hits = self.misses = 0

    def stats(self) -> dict[str, int]:
        """Size, capacity, hits and misses (no texts)."""
        with self._lock:
            return {
                "size": len(self._rows),
                "max_size": self.max_size,
                "hits": self.hits,
                "misses": self.misses,
            }
