"""vLLM engine arguments built from settings (no engine started)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from creative.engine import engine_args
from creative.settings import Settings


def test_cpu_engines_get_small_kv_blocks_chunked_prefill_and_a_concrete_dtype() -> None:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        pytest.skip("CPU platform only")
    args = engine_args(Settings(kv_block_size=64, max_num_batched_tokens=256))
    assert args["block_size"] == 64
    assert args["enable_chunked_prefill"] is True
    assert args["max_num_batched_tokens"] == 256
    assert args["dtype"] in ("bfloat16", "float32")


@pytest.mark.parametrize("size", [16, 48, 0])
def test_kv_block_size_must_be_a_multiple_of_32(size: int) -> None:
    with pytest.raises(ValidationError, match="kv_block_size"):
        Settings(kv_block_size=size)
