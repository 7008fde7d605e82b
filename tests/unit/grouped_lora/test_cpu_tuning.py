"""The plugin's CPU tuning: compiled RMSNorm in the IR registry, and naps instead of a spinning core."""

from __future__ import annotations

import time

import pytest
import torch

from grouped_lora import cpu_norm, quiet_wait

needs_kernels = pytest.mark.skipif(
    not cpu_norm.kernels_available(), reason="this vLLM build has no CPU RMSNorm kernels"
)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 16, 512])
def test_compiled_rms_norm_matches_vllm_reference(dtype: torch.dtype, rows: int) -> None:
    from vllm import ir

    x = torch.randn(rows, 576, dtype=dtype)
    residual = torch.randn(rows, 576, dtype=dtype)
    weight = torch.randn(576, dtype=dtype)
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 8e-2}

    expected = ir.ops.rms_norm.impls["native"].impl_fn(x, weight, 1e-5)
    torch.testing.assert_close(cpu_norm.rms_norm(x, weight, 1e-5), expected, **tolerance)

    want_out, want_residual = ir.ops.fused_add_rms_norm.impls["native"].impl_fn(x, residual, weight, 1e-5)
    got_x, got_residual = x.clone(), residual.clone()
    out, new_residual = cpu_norm.fused_add_rms_norm(got_x, got_residual, weight, 1e-5)
    assert out is got_x and new_residual is got_residual  # in place, as registered
    torch.testing.assert_close(new_residual, want_residual, rtol=0, atol=0)
    torch.testing.assert_close(out, want_out, **tolerance)


@needs_kernels
def test_installed_provider_comes_first_on_the_cpu_and_refuses_what_the_kernels_cannot_take() -> None:
    from vllm import ir
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        pytest.skip("CPU platform only")
    assert cpu_norm.install()
    assert cpu_norm.install()  # idempotent
    priority = current_platform.get_default_ir_op_priority(None)
    assert priority.rms_norm[0] == cpu_norm.PROVIDER
    assert priority.fused_add_rms_norm[0] == cpu_norm.PROVIDER
    impl = ir.ops.rms_norm.impls[cpu_norm.PROVIDER]
    x = torch.randn(4, 64)
    assert impl.supports_args(x, torch.randn(64), 1e-5)
    assert not impl.supports_args(x, torch.randn(64, dtype=torch.bfloat16), 1e-5)  # dtype mismatch
    assert not impl.supports_args(x.t(), torch.randn(4), 1e-5)  # not contiguous
    assert not impl.supports_args(x, torch.randn(64), 1e-5, 32)  # variance_size


def test_shared_memory_queues_nap_instead_of_spinning() -> None:
    from vllm.distributed.device_communicators import shm_broadcast

    quiet_wait.install()
    assert shm_broadcast.sched_yield is quiet_wait.nap
    started = time.process_time()
    wall = time.perf_counter()
    while time.perf_counter() - wall < 0.2:
        shm_broadcast.sched_yield()
    assert time.process_time() - started < 0.1  # a spin loop would burn the whole 0.2 s
