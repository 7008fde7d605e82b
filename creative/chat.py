"""Prompt token ids from chat messages: one function for serving and training, so both see the same text."""

from __future__ import annotations

from typing import Any


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` in the model's chat template, ending with the assistant's turn opener."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids: list[int] = tokenizer(text, add_special_tokens=False).input_ids
    return ids
