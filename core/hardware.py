"""What the machine can do, resolved once for every model the project runs (LLM engine and embedder).

* :func:`resolve_dtype`: bfloat16 only where the hardware computes it natively (CUDA, or a CPU with
  AVX-512 BF16 or AMX), else float32. On an AVX2-only CPU oneDNN refuses bf16 matmuls and falls back to
  slow reference kernels: measured 4.6x slower than float32 for the engine at 16 concurrent requests.
  vLLM's own ``auto`` would pick the checkpoint's bf16 on any x86 CPU, so the engine is always handed a
  concrete dtype from here.
* :func:`omp_cpu_binding`: the CPU ids this process may run on, as vLLM's ``VLLM_CPU_OMP_THREADS_BIND``
  wants them. vLLM's ``auto`` reserves a core for its front end; on a 2-core machine that leaves the model
  one OpenMP thread (measured 1.5x slower at 16 concurrent requests than binding both cores).
"""

from __future__ import annotations

import os

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
