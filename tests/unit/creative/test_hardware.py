"""What the machine can do: dtype, core binding and the engine's preloads."""

from __future__ import annotations

import os

import pytest

from creative import engine
from creative.hardware import engine_preloads, omp_cpu_binding, resolve_dtype
from creative.settings import Settings


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


def test_preloads_are_existing_files() -> None:
    assert all(os.path.isfile(path) for path in engine_preloads())


def test_the_engine_environment_preloads_and_spawns_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    for name in ("LD_PRELOAD", "VLLM_WORKER_MULTIPROC_METHOD", "ADCREATIVE_ENGINE_PRELOAD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(engine, "engine_preloads", lambda: ["/lib/a.so", "/lib/b.so"])
    monkeypatch.setattr(engine, "_cpu_platform", lambda: True)
    engine.configure_vllm_environment(Settings(cache_dir=tmp_path))
    assert os.environ["LD_PRELOAD"] == "/lib/a.so:/lib/b.so"
    assert os.environ["VLLM_WORKER_MULTIPROC_METHOD"] == "spawn"

    monkeypatch.setenv("LD_PRELOAD", "/mine.so")  # the user's own preload wins
    monkeypatch.delenv("VLLM_WORKER_MULTIPROC_METHOD")
    engine.configure_vllm_environment(Settings(cache_dir=tmp_path))
    assert os.environ["LD_PRELOAD"] == "/mine.so" and "VLLM_WORKER_MULTIPROC_METHOD" not in os.environ

    monkeypatch.delenv("LD_PRELOAD")
    monkeypatch.setenv("ADCREATIVE_ENGINE_PRELOAD", "0")
    engine.configure_vllm_environment(Settings(cache_dir=tmp_path))
    assert "LD_PRELOAD" not in os.environ
