"""What the machine can do, resolved once for every model the project runs (LLM engine and embedder).

* :func:`resolve_dtype`: bfloat16 only where the hardware computes it natively (CUDA, or a CPU with
  AVX-512 BF16 or AMX), else float32. On an AVX2-only CPU oneDNN refuses bf16 matmuls and falls back to
  slow reference kernels: measured 4.6x slower than float32 for the engine at 16 concurrent requests.
  vLLM's own ``auto`` would pick the checkpoint's bf16 on any x86 CPU, so the engine is always handed a
  concrete dtype from here.
* :func:`omp_cpu_binding`: the CPU ids this process may run on, as vLLM's ``VLLM_CPU_OMP_THREADS_BIND``
  wants them. vLLM's ``auto`` reserves a core for its front end; on a 2-core machine that leaves the model
  one OpenMP thread (measured 1.5x slower at 16 concurrent requests than binding both cores).
* :func:`engine_preloads`: tcmalloc and Intel OpenMP for the engine's processes (vLLM warns without them).
"""

from __future__ import annotations

import os
import sys

DTYPES = ("bfloat16", "float16", "float32")


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 matmuls natively (AVX-512 BF16 or AMX tiles)."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_dtype(choice: str, device: str) -> str:
    """A concrete dtype for ``choice``: ``auto`` → bfloat16 on CUDA or a native-bf16 CPU, else float32."""
    if choice != "auto":
        if choice not in DTYPES:
            raise ValueError(f"dtype must be auto or one of {', '.join(DTYPES)}, not {choice!r}")
        return choice
    if device.startswith("cuda") or cpu_has_native_bf16():
        return "bfloat16"
    return "float32"


def usable_cpus() -> list[int]:
    """The CPU ids this process may run on (its affinity mask), sorted."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def omp_cpu_binding(cpus: list[int] | None = None) -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` for all usable CPUs, as ranges: ``[0, 1, 2, 5]`` → ``"0-2,5"``."""
    ids = sorted(set(usable_cpus() if cpus is None else cpus))
    if not ids:
        raise ValueError("no usable CPUs")
    ranges: list[str] = []
    start = prev = ids[0]
    for cpu in [*ids[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(ranges)


TCMALLOC_PATHS = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
    "/usr/lib/libtcmalloc_minimal.so.4",
)


def engine_preloads() -> list[str]:
    """Libraries vLLM's CPU engine runs faster with: tcmalloc (Debian's ``libtcmalloc-minimal4``, when
    installed) and Intel OpenMP (``libiomp5.so`` from the ``intel-openmp`` wheel torch brings).

    Measured with ``bench/bench_threads.py`` on 2 cores (base model, 16 concurrent): 1.43x (425 → 609
    tok/s) while vLLM's engine core spun on ``sched_yield``; 1.02x (605 → 618) since it naps
    (``grouped_lora.quiet_wait``).
    """
    found = [path for path in TCMALLOC_PATHS if os.path.isfile(path)][:1]
    iomp = os.path.join(sys.prefix, "lib", "libiomp5.so")
    if os.path.isfile(iomp):
        found.append(iomp)
    return found
