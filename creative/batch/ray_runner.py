"""``--runner ray``: the same rows × arms over Ray Data, one engine (and ranker) per actor.

The driver reads the input (the pending rows' JSON is held in its memory: Ray's ``from_items`` needs the
list), skips the row × arms the progress file already holds, and hands the rest to
``Dataset.map_batches`` with :class:`EngineWorker`, a callable class: each actor starts one
:class:`~creative.engine.VllmEngine` and keeps it on ONE event loop that runs for the actor's whole life in
a thread of its own (vLLM's async engine is bound to the loop it first ran on). Each batch of rows is
submitted to that loop with every arm's request in flight at once, and the records come back to the driver,
which appends them to the same progress file the local runner uses, so resume, finalization and the output
are the same as the local runner's.

On a real cluster: install the project on every node (``make install``, or ``VLLM_TARGET=gpu`` on GPU
nodes), give the same model/adapter paths (or ``ADCREATIVE_MODEL_PATH``; the pinned template versions
travel with the job, so workers need no template database), then point the driver at the
cluster with ``--ray-address ray://head:10001`` (or ``RAY_ADDRESS``), ``--ray-workers`` actors and
``--ray-num-gpus 1`` per actor. Workers get an allowlist of the driver's environment (:func:`forwarded_env`):
the engine and ranking settings (``ADCREATIVE_<field>``) and a few cache and offline switches, never a
database URL, an API key or ``HF_TOKEN``; ``--ray-env NAME`` forwards another variable by name.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from creative.batch.runner import BatchJob, RunTimes, finish, progress_bar
from creative.batch.work import BatchPlan, RankBatcher, UnitProcessor
from creative.settings import Settings

# Besides the settings' own variables: where the caches are, and the offline and threading switches.
FORWARDED_ENV_NAMES = frozenset(
    {
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "TOKENIZERS_PARALLELISM",
        "OMP_NUM_THREADS",
        "VLLM_CACHE_ROOT",
        "VLLM_CPU_KVCACHE_SPACE",
        "VLLM_CPU_OMP_THREADS_BIND",
        "VLLM_LOGGING_LEVEL",
        "VLLM_TARGET_DEVICE",
        "VLLM_NO_USAGE_STATS",
        "DO_NOT_TRACK",
    }
)


@dataclass(frozen=True)
class RayOptions:
    """How to use Ray: where the cluster is, how many engine actors, and their resources."""

    address: str | None = None
    workers: int = 1
    batch_size: int = 16
    num_gpus: float = 0.0
    num_cpus: float = 1.0
    concurrency: int = 64
    rank: bool = True
    calls_per_actor: int = 2  # overlapping batches keep the engine busy while Ray moves data
    env: tuple[str, ...] = ()  # more variables to forward to the workers, by name (--ray-env)


class EngineWorker:
    """A Ray Data callable class: one engine + ranker per actor, one persistent event loop."""

    def __init__(
        self,
        settings: dict[str, Any],
        plan: list[dict[str, Any]],
        templates: list[dict[str, Any]],
        concurrency: int,
        rank: bool,
    ):
        from creative.adapters import registry_from_settings
        from creative.engine import VllmEngine
        from creative.writer import CreativeWriter
        from prompts.store import TemplateStore
        from prompts.template import PromptTemplate

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engine-loop", daemon=True)
        self._thread.start()
        resolved = Settings(**settings)
        batcher = None
        if rank:
            from ranking.rank import Ranker  # composition root of the actor

            batcher = RankBatcher(Ranker.from_settings())
        self._engine = VllmEngine.start(resolved)
        # The pinned versions travel with the actor: workers never need the driver's template database.
        pinned = TemplateStore(PromptTemplate.model_validate(t) for t in templates)
        writer = CreativeWriter(self._engine, resolved, pinned, registry_from_settings(resolved))
        self._plan = BatchPlan.from_json(plan)
        self._processor = UnitProcessor(writer, batcher)
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None

    async def _one(self, row: int, text: str, arm_index: int) -> dict[str, Any]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        async with self._slots:
            return await self._processor.process(row, text, self._plan.arms[arm_index])

    async def _run(self, units: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._one(*unit) for unit in units)))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Rows (``row``, ``text``, ``arms`` as a JSON list of arm indexes) → one record per row × arm."""
        units = [
            (int(row), str(text), int(index))
            for row, text, arms in zip(batch["row"], batch["text"], batch["arms"], strict=True)
            for index in json.loads(str(arms))
        ]
        records = asyncio.run_coroutine_threadsafe(self._run(units), self._loop).result()
        return {
            "row": [r["row"] for r in records],
            "arm": [r["arm"] for r in records],
            "record": [json.dumps(r, ensure_ascii=False) for r in records],
        }

    def __del__(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.shutdown()
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)


def forwarded_env(extra: Iterable[str] = ()) -> dict[str, str]:
    """The driver's variables a worker gets: the engine and ranking settings an actor reads
    (``ADCREATIVE_<field>``), :data:`FORWARDED_ENV_NAMES` and ``extra`` names; nothing else (the template
    database URL, API keys and tokens stay on the driver)."""
    from ranking.settings import RankingSettings  # only when running: the batch modules never import ranking

    fields = {*Settings.model_fields, *RankingSettings.model_fields}
    allowed = {f"ADCREATIVE_{name.upper()}" for name in fields} | FORWARDED_ENV_NAMES | set(extra)
    return {name: value for name, value in os.environ.items() if name in allowed}


def init_ray(address: str | None, env: Iterable[str] = ()) -> None:
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a local instance on this machine's CPUs."""
    import ray

    if ray.is_initialized():
        return
    runtime_env = {"env_vars": forwarded_env(env)}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(
            num_cpus=max(2, os.cpu_count() or 2),
            include_dashboard=False,
            runtime_env=runtime_env,
            log_to_driver=False,
        )


def pinned_templates(job: BatchJob) -> list[dict[str, Any]]:
    """The content of every template version the arms pin, read once on the driver."""
    from prompts.sources import template_source_from_settings

    source = template_source_from_settings()
    refs = sorted({ref for arm in job.plan.arms for ref in arm.templates.values() if ref is not None})
    return [source.resolve(ref).model_dump(mode="json") for ref in refs]


def run_ray(job: BatchJob, settings: Settings, options: RayOptions, progress: bool = True) -> dict[str, Any]:
    """Run every pending row × arm on Ray Data actors; append records as they return; finalize."""
    import ray
    import ray.data

    items = [{"row": row, "text": text, "arms": json.dumps(todo)} for row, text, todo in job.pending()]
    templates = pinned_templates(job)
    times = RunTimes(runner="ray")
    started = time.perf_counter()
    if items:
        init_ray(options.address, options.env)
        ray.data.DataContext.get_current().enable_progress_bars = False
        dataset = ray.data.from_items(items).map_batches(
            EngineWorker,
            fn_constructor_kwargs={
                "settings": settings.model_dump(mode="json", exclude_unset=True),
                "plan": job.plan.to_json(),
                "templates": templates,
                "concurrency": options.concurrency,
                "rank": options.rank,
            },
            batch_size=options.batch_size,
            compute=ray.data.ActorPoolStrategy(
                size=options.workers,
                max_concurrent_calls_per_actor=options.calls_per_actor,
                enable_true_multi_threading=True,
            ),
            num_cpus=options.num_cpus,
            num_gpus=options.num_gpus,
            batch_format="numpy",
        )
        print(
            f"running {len(items)} rows on Ray ({options.workers} engine actor(s))…",
            file=sys.stderr,
            flush=True,
        )
        bar = progress_bar(job, progress)
        job.journal.open()
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for text in batch["record"]:
                    job.journal.append(json.loads(str(text)))
                    times.units_run += 1
                    bar.update(1)
        finally:
            job.journal.close()
            bar.close()
    times.seconds = time.perf_counter() - started
    return finish(job, times)
