"""A seeded request never reuses cached prompt blocks (its copy must not depend on a cache hit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from creative.engine import SamplingSpec, VllmEngine


class RecordingAsyncLLM:
    """Stands in for vLLM's AsyncLLM: records each prompt and answers one empty completion."""

    errored = False

    def __init__(self) -> None:
        self.prompts: list[dict[str, Any]] = []

    async def generate(self, prompt: dict[str, Any], params: Any, **_: Any) -> AsyncIterator[Any]:
        self.prompts.append(dict(prompt))
        completion = SimpleNamespace(index=0, text="", token_ids=[], finish_reason="stop")
        yield SimpleNamespace(outputs=[completion])


def _spec(seed: int | None) -> SamplingSpec:
    return SamplingSpec(n=1, seed=seed, temperature=0.8, top_p=0.9, max_tokens=8)


async def test_seeded_requests_get_their_own_cache_salt_and_unseeded_share_the_cache() -> None:
    fake = RecordingAsyncLLM()
    engine = VllmEngine(fake, tokenizer=None, model_name="m", started_in=0.0, dtype="float32")  # type: ignore[arg-type]
    for request_id, seed in (("a", 7), ("b", 7), ("c", None)):
        await engine.generate([1, 2, 3], _spec(seed), request_id)
    first, second, unseeded = fake.prompts
    assert first["cache_salt"] != second["cache_salt"]  # same seed, yet never each other's cache
    assert "cache_salt" not in unseeded
