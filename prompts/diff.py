"""Field-by-field unified diffs between two versions of a template (the editor's compare view)."""

from __future__ import annotations

import difflib
import json

from prompts.models import CONTENT_FIELDS, TemplateDiff, TemplateVersion, content_of


def diff_versions(old: TemplateVersion, new: TemplateVersion) -> TemplateDiff:
    """Unified diffs of each changed content field, and of the whole content, from ``old`` to ``new``."""
    old_text, new_text = _as_text(old), _as_text(new)
    fields = {}
    for field in CONTENT_FIELDS:
        if old_text[field] != new_text[field]:
            fields[field] = "".join(
                difflib.unified_diff(
                    old_text[field].splitlines(keepends=True),
                    new_text[field].splitlines(keepends=True),
                    f"{old.ref} {field}",
                    f"{new.ref} {field}",
                )
            )
    whole = "".join(
        difflib.unified_diff(
            _whole(old_text).splitlines(keepends=True),
            _whole(new_text).splitlines(keepends=True),
            old.ref,
            new.ref,
        )
    )
    return TemplateDiff(
        name=new.name,
        from_version=old.version,
        to_version=new.version,
        changed=list(fields),
        fields=fields,
        unified=whole,
    )


def _as_text(version: TemplateVersion) -> dict[str, str]:
    content = content_of(version)
    return {
        field: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for field, value in content.items()
    }


def _whole(text: dict[str, str]) -> str:
    return "".join(f"[{field}]\n{text[field]}\n\n" for field in CONTENT_FIELDS)
