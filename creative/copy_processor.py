"""The vLLM logits processor of the copy writer: names finished exactly, only the facts' numbers, fields
closed before their limit.

Named in the engine arguments (``creative.engine.engine_args``, settings ``exact_names``,
``faithful_numbers`` and ``fit_words``) and built by vLLM inside the engine core process, so this module
is the only one here that imports vLLM at the top. Each request opts in through
``SamplingParams.extra_args``; its steps are :class:`creative.name_decoding.NameContinuation`,
:class:`creative.number_decoding.FactNumbers` and :class:`creative.word_fit.FieldFit`, applied in that
order after the structured-output grammar's mask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from creative import name_decoding, number_decoding, word_fit
from creative.name_decoding import ExactNames, NameContinuation, TokenPieces
from creative.number_decoding import FactNumbers, NumberTables
from creative.word_fit import FieldFit, FitTables

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig

Step = Callable[[list[int], torch.Tensor], torch.Tensor]


class CopyLogitsProcessor(AdapterLogitsProcessor):
    """vLLM logits processor (engine argument ``logits_processors``) for the copy writer's steps."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool):
        super().__init__(vllm_config, device, is_pin_memory)
        from transformers import AutoTokenizer

        model = vllm_config.model_config
        self.tokenizer = AutoTokenizer.from_pretrained(model.tokenizer, trust_remote_code=False)
        pieces = {i: str(self.tokenizer.decode([i])) for i in range(len(self.tokenizer))}
        self.pieces = TokenPieces(pieces)
        vocab_size = max(len(self.tokenizer), int(getattr(model, "get_vocab_size", lambda: 0)()))
        self.fit_tables = FitTables.from_pieces(pieces, vocab_size)
        self.number_tables = NumberTables.from_pieces(pieces)

    def is_argmax_invariant(self) -> bool:
        """It changes which token is the most likely: never skipped for greedy requests."""
        return False

    def new_req_logits_processor(self, params: SamplingParams) -> Step | None:
        """The steps a request asked for (its names, its facts' numbers, its fields' limits), or None."""
        extra = params.extra_args or {}
        steps: list[Step] = []
        if names := extra.get(name_decoding.EXTRA_ARG):
            steps.append(NameContinuation(ExactNames.of(names), self.pieces, self.tokenizer))
        if forms := extra.get(number_decoding.EXTRA_ARG):
            steps.append(FactNumbers(dict(forms), self.number_tables, self.tokenizer))
        if limits := extra.get(word_fit.EXTRA_ARG):
            steps.append(FieldFit(dict(limits), self.fit_tables, self.tokenizer))
        if not steps:
            return None
        if len(steps) == 1:
            return steps[0]

        def in_turn(output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
            for step in steps:
                logits = step(output_ids, logits)
            return logits

        return in_turn
