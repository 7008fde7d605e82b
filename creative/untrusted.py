"""Untrusted request text stays data: it may not carry control characters or the model's chat markup.

Profile and product values are inserted into the prompt verbatim. A value holding one of the tokenizer's
special or added tokens (``<|im_end|>``, ``<|im_start|>system``) would close the user's turn and open a
new one, so the model would read it as instructions; control characters (line breaks included) could
forge the prompt's labelled lines or hide text. Both are refused with a 400 naming the field, e.g.
``profile.recent_activity.0``. The control-character check needs no tokenizer; the special-token check
runs where the prompt is tokenized (:func:`creative.chat.chat_prompt_ids`) with the engine's own
tokenizer, and :func:`special_token_error` names the field that carried the token.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

from core.errors import CreativeInputError
from core.schema import CreativeRequest

_REFUSED_CATEGORIES = {"Cc", "Zl", "Zp"}  # C0/C1 controls and DEL; the line and paragraph separators


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")


def untrusted_texts(request: CreativeRequest) -> Iterator[tuple[str, str]]:
    """``(param, value)`` for every string of the request's profile and product (what reaches the prompt)."""
    yield from _strings(request.profile.model_dump(), "profile")
    yield from _strings(request.product.model_dump(), "product")


def control_character(text: str) -> str | None:
    """The first refused control character of ``text``, or None."""
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return char
    return None


def _describe(char: str) -> str:
    name = unicodedata.name(char, "") or {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\t": "TAB"}.get(
        char, "control character"
    )
    return f"U+{ord(char):04X} ({name.lower()})"


def check_control_characters(request: CreativeRequest) -> None:
    """:class:`CreativeInputError` (``control_character``) naming the first field with a control character."""
    for param, text in untrusted_texts(request):
        char = control_character(text)
        if char is not None:
            raise CreativeInputError(
                f"{param} contains the control character {_describe(char)}; send plain text on one line",
                param=param,
                code="control_character",
            )


def special_token_error(request: CreativeRequest, token: str, template_ref: str) -> CreativeInputError:
    """The 400 for a prompt that held the special token ``token``, naming the field that carried it."""
    for param, text in untrusted_texts(request):
        if token in text:
            return CreativeInputError(
                f"{param} contains {token!r}, a special token of the model; request text cannot carry "
                "chat markup",
                param=param,
                code="special_token",
            )
    return CreativeInputError(  # not in one field: the template's text, or fields that join into one
        f"the prompt rendered from {template_ref} contains {token!r}, a special token of the model",
        param="template",
        code="special_token",
    )
