"""Check a draft before it becomes a version: strict variables, known placements, valid f-strings.

Every problem is reported against the field at fault (``system``, ``user``, ``variables``,
``placements``, ``name``), and a misspelt variable gets a suggestion: ``{prodcut}`` → ``product``.
"""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from core.placements import PLACEMENTS
from prompts.models import TemplateValidationError, VersionDraft
from prompts.template import ALLOWED_VARIABLES, PromptTemplate, TemplateError, used_variables


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, ALLOWED_VARIABLES, n=1, cutoff=0.6)
    return f" (did you mean {{{close[0]}}}?)" if close else ""


def _allowed() -> str:
    return ", ".join("{" + name + "}" for name in sorted(ALLOWED_VARIABLES))


def validate_draft(name: str, draft: VersionDraft, version: int) -> PromptTemplate:
    """The renderable template ``draft`` describes, or :class:`TemplateValidationError` naming the field."""
    used: dict[str, list[str]] = {}
    for part in ("system", "user"):
        try:
            used[part] = used_variables(getattr(draft, part), part)
        except TemplateError as exc:
            raise TemplateValidationError(
                f"{exc}; write literal braces as {{{{ and }}}}", part, "invalid_syntax"
            ) from None
        for variable in used[part]:
            if variable not in ALLOWED_VARIABLES:
                raise TemplateValidationError(
                    f"the {part} text uses {{{variable}}}, which no request provides{_suggest(variable)}; "
                    f"available: {_allowed()}",
                    part,
                    "unknown_variable",
                )
    for variable in draft.variables:
        if variable not in ALLOWED_VARIABLES:
            raise TemplateValidationError(
                f"declared variable {variable!r} is not provided by requests{_suggest(variable)}; "
                f"available: {_allowed()}",
                "variables",
                "unknown_variable",
            )
    all_used = set(used["system"]) | set(used["user"])
    undeclared = sorted(all_used - set(draft.variables))
    if undeclared:
        raise TemplateValidationError(
            f"the text uses {', '.join('{' + v + '}' for v in undeclared)} but the version does not declare "
            "it; add it to variables",
            "variables",
            "undeclared_variable",
        )
    unused = sorted(set(draft.variables) - all_used)
    if unused:
        raise TemplateValidationError(
            f"declared variable(s) {unused} are not used by the text; remove them from variables",
            "variables",
            "unused_variable",
        )
    unknown_placements = [p for p in draft.placements if p not in PLACEMENTS]
    if unknown_placements:
        raise TemplateValidationError(
            f"unknown placement(s) {unknown_placements}; known: {sorted(PLACEMENTS)}",
            "placements",
            "unknown_placement",
        )
    try:
        return PromptTemplate(
            name=name,
            version=version,
            description=draft.description,
            placements=draft.placements,
            variables=draft.variables,
            system=draft.system,
            user=draft.user,
            sampling=draft.sampling,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "name"
        raise TemplateValidationError(f"{field}: {first['msg']}", field, "invalid_value") from None
