"""What the machine can do: dtype, core binding and the engine's preloads."""

from __future__ import annotations

import pytest

from core.hardware import omp_cpu_binding, resolve_dtype


def test_binding_lists_every_usable_cpu_as_ranges() -> None:
    assert omp_cpu_binding([0, 1]) == "0-1"
    assert omp_cpu_binding([5, 0, 1, 2]) == "0-2,5"
    assert omp_cpu_binding([3]) == "3"
    with pytest.raises(ValueError):
        omp_cpu_binding([])


def test_auto_dtype_is_concrete_and_explicit_dtypes_pass_through() -> None:
    assert resolve_dtype("auto", "cuda") == "bfloat16"
    assert resolve_dtype("auto", "cpu") in ("bfloat16", "float32")
    assert resolve_dtype("float32", "cuda") == "float32"
    with pytest.raises(ValueError):
        resolve_dtype("int3", "cpu")
