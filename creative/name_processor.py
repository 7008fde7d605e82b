"""The vLLM logits processor that finishes begun product and brand names (see :mod:`creative.name_decoding`).

Named in the engine arguments (``creative.engine.engine_args``, setting ``exact_names``) and built by
vLLM inside the engine core process, so this module is the only one here that imports vLLM at the top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from creative.name_decoding import EXTRA_ARG, ExactNames, NameContinuation, TokenPieces

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig


class ExactNameProcessor(AdapterLogitsProcessor):
    """vLLM logits processor (engine argument ``logits_processors``) for :class:`NameContinuation`."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool):
        super().__init__(vllm_config, device, is_pin_memory)
        from transformers import AutoTokenizer

        model = vllm_config.model_config
        self.tokenizer = AutoTokenizer.from_pretrained(model.tokenizer, trust_remote_code=False)
        self.pieces = TokenPieces.from_tokenizer(self.tokenizer)

    def is_argmax_invariant(self) -> bool:
        """It changes which token is the most likely: never skipped for greedy requests."""
        return False

    def new_req_logits_processor(self, params: SamplingParams) -> NameContinuation | None:
        """A continuation processor for a request that names its protected names, else None."""
        names = (params.extra_args or {}).get(EXTRA_ARG)
        if not names:
            return None
        return NameContinuation(ExactNames.of(names), self.pieces, self.tokenizer)
