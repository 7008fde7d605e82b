"""What CPU a test ran on, for failure messages and the report header (CI machines differ)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_summary() -> str:
    """The CPU model and the matmul extensions that change numerics (AVX-512 BF16, AMX), in one line."""
    model, flags = platform.processor() or "unknown CPU", set[str]()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    extensions = [name for name in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if name in flags]
    return f"{model} ({', '.join(extensions) or 'no AVX2'})"
