"""The plugin's CPU tuning: compiled RMSNorm in the IR registry and sort-free top-p."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from grouped_lora import cpu_norm, top_p

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
    tolerance: dict[str, Any] = (
        {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 8e-2}
    )

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
    priority = current_platform.get_default_ir_op_priority(None)  # type: ignore[arg-type]
    assert priority.rms_norm[0] == cpu_norm.PROVIDER
    assert priority.fused_add_rms_norm[0] == cpu_norm.PROVIDER
    impl = ir.ops.rms_norm.impls[cpu_norm.PROVIDER]
    x = torch.randn(4, 64)
    assert impl.supports_args(x, torch.randn(64), 1e-5)
    assert not impl.supports_args(x, torch.randn(64, dtype=torch.bfloat16), 1e-5)  # dtype mismatch
    assert not impl.supports_args(x.t(), torch.randn(4), 1e-5)  # not contiguous
    assert not impl.supports_args(x, torch.randn(64), 1e-5, 32)  # variance_size


def stock_top_p(logits: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p_pytorch

    return apply_top_k_top_p_pytorch(logits.clone(), None, p, allow_cpu_sync=True)


@pytest.mark.parametrize("scale", [0.5, 3.0, 12.0], ids=["flat", "typical", "peaked"])
def test_top_p_without_a_sort_keeps_exactly_the_tokens_vllm_keeps(scale: float) -> None:
    """Rows with a narrow nucleus take the candidate path, flat rows vLLM's sort; p = 1 changes nothing."""
    generator = torch.Generator().manual_seed(int(scale * 10))
    logits = torch.randn(24, 5000, generator=generator) * scale
    logits[3, 100:] = float("-inf")  # a grammar-masked row
    p = torch.tensor([0.95, 0.5, 0.9, 1.0, 0.99, 0.8] * 4)
    expected = stock_top_p(logits, p)
    sorted_rows = []

    def sort_rows(rows: torch.Tensor, row_p: torch.Tensor) -> torch.Tensor:
        sorted_rows.append(len(rows))
        return stock_top_p(rows, row_p)

    got = top_p.apply_top_p(logits.clone(), p, sort_rows)
    filtered = p < 1
    assert torch.equal(got[filtered], expected[filtered])  # same kept tokens, same values, -inf elsewhere
    assert torch.equal(got[~filtered], logits[~filtered])  # p = 1: untouched
    if scale == 12.0:
        assert not sorted_rows  # every nucleus fits in the candidates
    if scale == 0.5:
        assert sorted_rows  # a flat row is wider than the candidates: vLLM's sort decides


def test_a_nucleus_wider_than_the_first_candidates_is_found_without_a_sort() -> None:
    """A row with a few hundred likely tokens (common at temperature 1) takes the second candidate count."""
    logits = torch.randn(3, 20000, generator=torch.Generator().manual_seed(1)) - 20.0
    logits[:, :300] += 20.0  # ~300 tokens hold nearly all the mass: wider than 64, inside 2048
    p = torch.tensor([0.9, 0.95, 0.99])
    sorted_rows: list[int] = []

    def sort_rows(rows: torch.Tensor, row_p: torch.Tensor) -> torch.Tensor:
        sorted_rows.append(len(rows))
        return stock_top_p(rows, row_p)

    got = top_p.apply_top_p(logits.clone(), p, sort_rows)
    assert torch.equal(got, stock_top_p(logits, p))
    assert not sorted_rows
    assert int((~torch.isinf(got)).sum(dim=1).min()) > 64
    only_first = top_p.apply_top_p(logits.clone(), p, sort_rows, candidates=(64,))
    assert torch.equal(only_first, got) and sorted_rows == [3]  # without the second count: vLLM's sort


def test_top_p_is_installed_only_for_requests_without_top_k() -> None:
    from vllm.v1.sample.ops import topk_topp_sampler

    top_p.install()
    logits = torch.randn(4, 1000) * 5
    p = torch.full((4,), 0.9)
    expected = stock_top_p(logits, p)
    got = topk_topp_sampler.apply_top_k_top_p(logits.clone(), None, p)
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    k = torch.full((4,), 5)
    with_k = topk_topp_sampler.apply_top_k_top_p(logits.clone(), k, p)
    assert int((~torch.isinf(with_k)).sum(dim=1).max()) <= 5
