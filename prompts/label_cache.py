"""Label targets cached for a few seconds, so the request path does not query the database each time.

Another process may move a label (its move shows here within ``ttl_s``); a move made through this
process drops its entry at once, and a read that raced a move is not cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

LabelKey = tuple[str, str]  # (template name, label)


class LabelCache:
    """``(name, label) -> version`` for ``ttl_s`` seconds (0: no caching); thread-safe."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._targets: dict[LabelKey, tuple[int, float]] = {}
        self._moves = 0  # bumped by every move here: a read that raced a move is not cached
        self._lock = threading.Lock()

    def target(self, key: LabelKey, load: Callable[[], int]) -> int:
        """The cached version of ``key``, else ``load()`` (cached when no move raced it)."""
        now = time.monotonic()
        with self._lock:
            hit = self._targets.get(key)
            moves_before = self._moves
        if hit is not None and hit[1] > now:
            return hit[0]
        version = load()
        if self.ttl_s > 0:
            with self._lock:
                if self._moves == moves_before:
                    self._targets[key] = (version, now + self.ttl_s)
        return version

    def moved(self, key: LabelKey) -> None:
        """A label was moved through this process: forget its target now."""
        with self._lock:
            self._targets.pop(key, None)
            self._moves += 1
