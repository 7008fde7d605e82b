"""Preview a template version (saved or an unsaved draft) on one sample request.

One round through the real engine, no regeneration and no ranking: the editor wants to see what the
template makes of a sample, including the candidates that fail, with each field's length as the
placement counts it (Google's double-width rule included) against the placement's limits.
"""

from __future__ import annotations

import json
import time
import uuid

from pydantic import BaseModel, Field

from core.placements import Placement, count_chars
from core.schema import CreativeRequest, Usage
from creative.engine import Completion
from creative.writer import Assessment, CreativeWriter
from prompts.template import PromptTemplate


class FieldLength(BaseModel):
    """One field of a candidate and its length as the placement counts it."""

    text: str
    chars: int = Field(description="Length as the placement counts it (double-width counts 2 on Google).")
    min_chars: int
    max_chars: int
    within_limit: bool = Field(description="`min_chars <= chars <= max_chars`.")


class PreviewVariant(BaseModel):
    """One candidate of the preview, whether or not it passed the checks."""

    index: int
    seed: int | None
    fields: dict[str, FieldLength] = Field(
        description="The fields after repair (what would be served); empty when the output is not JSON."
    )
    valid: bool = Field(description="Passed every check (after repair): the API would return it.")
    valid_first_try: bool = Field(description="Passed as generated, without repair.")
    repaired: bool
    repairs: list[str]
    reasons: list[str] = Field(description="Why it fails, when it does.")
    output_tokens: int
    finish_reason: str | None


class PreviewMessage(BaseModel):
    """A rendered chat message."""

    role: str
    content: str


class PreviewTemplate(BaseModel):
    """What was previewed: a saved version (``version`` set) or a draft (``version`` null)."""

    name: str
    version: int | None
    ref: str = Field(description="`name@version`, or `name (draft)` for unsaved text.")


class PreviewResult(BaseModel):
    """The rendered prompt, its token count, and the candidates with their field lengths."""

    template: PreviewTemplate
    placement: str
    counting: str
    model: str
    adapter: str | None
    messages: list[PreviewMessage]
    prompt_tokens: int
    variants: list[PreviewVariant]
    valid: int = Field(description="Candidates that passed every check.")
    usage: Usage
    timings: dict[str, float]


def field_lengths(fields: dict[str, str], placement: Placement) -> dict[str, FieldLength]:
    """Each field's length as ``placement`` counts it, against its limits."""
    lengths = {}
    for spec in placement.fields:
        if spec.name not in fields:
            continue
        chars = count_chars(fields[spec.name], placement.counting)
        lengths[spec.name] = FieldLength(
            text=fields[spec.name],
            chars=chars,
            min_chars=spec.min_chars,
            max_chars=spec.max_chars,
            within_limit=spec.min_chars <= chars <= spec.max_chars,
        )
    return lengths


def _variant(index: int, completion: Completion, verdict: Assessment, placement: Placement) -> PreviewVariant:
    reasons = list(verdict.reasons)
    if completion.finish_reason == "length" and not verdict.ok:
        reasons.append("stopped at the max_output_tokens limit")
    return PreviewVariant(
        index=index,
        seed=completion.seed,
        fields=field_lengths(verdict.fields or {}, placement),
        valid=verdict.ok,
        valid_first_try=verdict.ok and not verdict.repairs,
        repaired=bool(verdict.repairs),
        repairs=verdict.repairs,
        reasons=reasons,
        output_tokens=completion.output_tokens,
        finish_reason=completion.finish_reason,
    )


def _raw_fields(text: str) -> dict[str, str]:
    """String fields of a raw completion, for showing lengths of output the checks could not repair."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


async def preview(
    writer: CreativeWriter,
    template: PromptTemplate,
    request: CreativeRequest,
    *,
    draft: bool = False,
    request_id: str | None = None,
) -> PreviewResult:
    """Render ``template`` for ``request``, generate ``n`` candidates in one round and measure each field.

    Limits and input errors are the writer's (:class:`~core.errors.CreativeInputError` naming the
    field). Nothing is logged: the sample profile and the copy stay out of the logs.
    """
    started = time.perf_counter()
    request_id = request_id or f"pv-{uuid.uuid4().hex[:16]}"
    resolved = writer.resolve(request, template)
    messages = writer.messages(resolved)
    prompt_ids = writer.prompt_ids(resolved)
    batch = await writer.run_round(resolved, prompt_ids, resolved.n, resolved.seed, request_id)
    placement = resolved.placement
    variants = []
    for index, (completion, verdict) in enumerate(batch.candidates):
        if verdict.fields is None:  # not the expected JSON object: still show what lengths it has
            verdict = Assessment(_raw_fields(completion.text) or None, verdict.repairs, verdict.reasons)
        variants.append(_variant(index, completion, verdict, placement))
    completion_tokens = sum(completion.output_tokens for completion, _ in batch.candidates)
    return PreviewResult(
        template=PreviewTemplate(
            name=template.name,
            version=None if draft else template.version,
            ref=f"{template.name} (draft)" if draft else template.ref,
        ),
        placement=placement.name,
        counting=placement.counting,
        model=writer.engine.model_name,
        adapter=resolved.adapter.name if resolved.adapter else None,
        messages=[PreviewMessage(**m) for m in messages],
        prompt_tokens=len(prompt_ids),
        variants=variants,
        valid=sum(v.valid for v in variants),
        usage=Usage(
            prompt_tokens=batch.prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=batch.prompt_tokens + completion_tokens,
        ),
        timings={"generate_s": round(time.perf_counter() - started, 4)},
    )
