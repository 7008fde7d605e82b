"""A scripted stand-in for the vLLM engine, for fast unit tests of the writer and the API layer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from creative.chat import SpecialTokenError
from creative.engine import Completion, EngineOutput, SamplingSpec

Script = Callable[[SamplingSpec, int], list[str]]


def json_copy(**fields: str) -> str:
    """A raw completion as the JSON the grammar would produce."""
    return json.dumps(fields)


class FakeEngine:
    """Returns scripted completions; records every call. ``script(spec, call_index)`` gives the texts."""

    model_name = "fake-model"
    special_tokens: tuple[str, ...] = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")  # SmolLM2's chat markup

    def __init__(self, script: Script, delay: float = 0.0):
        self.script = script
        self.delay = delay
        self.calls: list[SamplingSpec] = []
        self.healthy = True
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.gate: asyncio.Event | None = None  # when set, generate waits for it (holds requests in flight)

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        for message in messages:  # as creative.chat.chat_prompt_ids does with a real tokenizer
            for token in self.special_tokens:
                if token in message["content"]:
                    raise SpecialTokenError(token, message["role"])
        return [len(word) for message in messages for word in message["content"].split()]

    async def generate(
        self, prompt_token_ids: list[int], spec: SamplingSpec, request_id: str
    ) -> EngineOutput:
        call = len(self.calls)
        self.calls.append(spec)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            texts = self.script(spec, call)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        return EngineOutput(
            prompt_tokens=len(prompt_token_ids),
            completions=[
                Completion(
                    text=text,
                    output_tokens=len(text) // 4,
                    finish_reason="stop",
                    seed=None if spec.seed is None else spec.seed + i,
                )
                for i, text in enumerate(texts[: spec.n])
            ],
        )

    async def verify(self) -> None:
        return None

    def is_healthy(self) -> bool:
        return self.healthy

    def shutdown(self) -> None:
        self.healthy = False


def forbid_engine_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to start the real engine fail the test (input checks must refuse first)."""
    from creative.engine import VllmEngine

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the engine must not start")

    monkeypatch.setattr(VllmEngine, "start", refuse)
