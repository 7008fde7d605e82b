"""Prompt token ids from chat messages: one function for serving and training, so both see the same text.

Message text is data: it is tokenized on its own first, and a message that would produce one of the
tokenizer's special or added tokens (``<|im_end|>``, ``<|im_start|>``…) is refused with
:class:`SpecialTokenError` before the chat template wraps it, since such a token inside a value would end
the turn and open a new one (a prompt injection the model cannot tell from the real markup).
"""

from __future__ import annotations

from typing import Any


class SpecialTokenError(ValueError):
    """A message's text holds ``token``, a special or added token of the tokenizer."""

    def __init__(self, token: str, role: str):
        super().__init__(f"the {role} message contains {token!r}, a special token of the model")
        self.token, self.role = token, role


def markup_token_ids(tokenizer: Any) -> frozenset[int]:
    """Ids of the tokenizer's special tokens and of every added token (chat markup, tool tags…)."""
    return frozenset(tokenizer.all_special_ids) | frozenset(tokenizer.added_tokens_decoder)


def check_message_text(tokenizer: Any, messages: list[dict[str, str]]) -> None:
    """:class:`SpecialTokenError` when a message's text alone tokenizes to a special or added token.

    Tokenizing the text (not searching for strings) catches exactly what the tokenizer would turn into
    markup, whatever its normalization does.
    """
    markup = markup_token_ids(tokenizer)
    for message in messages:
        ids: list[int] = tokenizer(message["content"], add_special_tokens=False).input_ids
        found = next((i for i in ids if i in markup), None)
        if found is not None:
            raise SpecialTokenError(str(tokenizer.convert_ids_to_tokens(found)), message["role"])


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` in the model's chat template, ending with the assistant's turn opener.

    Raises :class:`SpecialTokenError` when a message's text carries a special or added token.
    """
    check_message_text(tokenizer, messages)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids: list[int] = tokenizer(text, add_special_tokens=False).input_ids
    return ids
