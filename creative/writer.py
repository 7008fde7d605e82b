"""Write ``n`` placement-valid, brand-safe, faithful variants for one request.

One round: render the placement's template, decode ``n`` candidates with a JSON schema built from the
placement, then for each candidate parse → repair → validate → check. Candidates that still fail are
recorded with their reasons and, while rounds remain (``max_regenerations``), regenerated with fresh
seeds derived from the request seed, so the same request yields the same variants (exactly in float32;
in bf16 the engine's batch shape can change the last bits: README, "Seeds and batch shape").
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass

from core.errors import CreativeInputError
from core.placements import Placement, UnknownPlacementError, get_placement
from core.schema import (
    CreativeRequest,
    CreativeResult,
    GenerationStats,
    RejectedVariant,
    Sampling,
    TemplateRef,
    Usage,
    Variant,
)
from creative.adapters import Adapter, AdapterRegistry
from creative.chat import SpecialTokenError
from creative.checks import ForbiddenWords, ProductFacts
from creative.context import template_variables
from creative.engine import Completion, SamplingSpec, TextEngine
from creative.names import NameGuard
from creative.number_decoding import number_forms
from creative.repair import field_problems, repair_field
from creative.sampling import check_sampling, effective_sampling
from creative.settings import Settings
from creative.untrusted import check_control_characters, special_token_error
from prompts.refs import TemplateNotFoundError, TemplateSource, check_serves, parse_ref
from prompts.store import TemplateStore
from prompts.template import PromptTemplate, TemplateError

logger = logging.getLogger(__name__)


@dataclass
class Assessment:
    """The outcome of checking one raw candidate."""

    fields: dict[str, str] | None
    repairs: list[str]
    reasons: list[str]

    @property
    def ok(self) -> bool:
        """True when the candidate can be returned."""
        return self.fields is not None and not self.reasons


def assess(
    raw: str,
    placement: Placement,
    facts: ProductFacts,
    forbidden: ForbiddenWords,
    names: NameGuard | None = None,
) -> Assessment:
    """Parse, repair and check one raw JSON candidate against the placement and the product facts (with
    ``names``, a near miss of the product's or brand's name is first spelled exactly)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return Assessment(None, [], ["output is not complete JSON"])
    expected = [spec.name for spec in placement.fields]
    if not isinstance(data, dict) or sorted(data) != sorted(expected):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        return Assessment(None, [], [f"expected fields {expected}, got {keys}"])
    fields: dict[str, str] = {}
    repairs: list[str] = []
    reasons: list[str] = []
    for spec in placement.fields:
        value = data[spec.name]
        if not isinstance(value, str):
            reasons.append(f"{spec.name}: not a string")
            continue
        if names is not None:
            value, renamed = names.fix(value)
            repairs.extend(f"{spec.name}: {what}" for what in renamed)
        fixed = repair_field(value, spec, placement.counting)
        repairs.extend(f"{spec.name}: {what}" for what in fixed.repairs)
        reasons.extend(field_problems(fixed.text, spec, placement.counting))
        fields[spec.name] = fixed.text
        reasons.extend(f"{spec.name}: forbidden word {word!r}" for word in forbidden.found(fixed.text))
        reasons.extend(f"{spec.name}: {why}" for why in facts.unsupported(fixed.text))
    return Assessment(fields, repairs, reasons)


@dataclass(frozen=True)
class ResolvedRequest:
    """A request with every default filled in and every limit checked."""

    request: CreativeRequest
    placement: Placement
    template: PromptTemplate
    sampling: Sampling
    seed: int | None
    adapter: Adapter | None
    facts: ProductFacts
    """The numbers, prices and percentages the copy may state (from the product)."""
    forbidden: ForbiddenWords
    """The settings' brand-safety words plus the request's own."""
    names: NameGuard
    """The product's and brand's names, spelled exactly in the copy."""
    label: str | None = None
    """The label the template was resolved through (``production`` by default); None for ``name@N`` or an
    explicit template."""

    @property
    def n(self) -> int:
        """Candidates to write."""
        return self.sampling.n

    @property
    def k(self) -> int:
        """Variants to keep after ranking."""
        return self.sampling.k

    @property
    def temperature(self) -> float:
        """Sampling temperature (0: greedy)."""
        return self.sampling.temperature

    @property
    def top_p(self) -> float:
        """Nucleus sampling mass."""
        return self.sampling.top_p


@dataclass
class Round:
    """One round's candidates, each with its verdict."""

    prompt_tokens: int
    candidates: list[tuple[Completion, Assessment]]


class CreativeWriter:
    """Turns a :class:`CreativeRequest` into checked variants using a :class:`TextEngine`."""

    def __init__(
        self,
        engine: TextEngine,
        settings: Settings,
        templates: TemplateSource | None = None,
        adapters: AdapterRegistry | None = None,
    ):
        self.engine = engine
        self.settings = settings
        self.templates: TemplateSource = templates or TemplateStore.from_directory()
        self.adapters = adapters or AdapterRegistry(None, [], settings.max_lora_rank)

    def _template(
        self, placement: Placement, ref: str | None, explicit: PromptTemplate | None
    ) -> tuple[PromptTemplate, str | None]:
        """The template to render and the label it was reached through."""
        try:
            if explicit is not None:
                return check_serves(explicit, placement.name), None
            template = self.templates.for_placement(placement.name, ref)
        except TemplateNotFoundError as exc:
            raise CreativeInputError(str(exc), param="template", code="unknown_template") from None
        except TemplateError as exc:
            raise CreativeInputError(str(exc), param="template", code="template_mismatch") from None
        return template, parse_ref(ref or placement.name).label

    def resolve(self, request: CreativeRequest, template: PromptTemplate | None = None) -> ResolvedRequest:
        """Apply defaults and the settings' limits; raise :class:`CreativeInputError` naming the field.

        ``template`` (an unsaved draft, or a version picked by the caller) replaces the request's
        ``template`` reference. Sampling comes from the request, else the template version's
        ``sampling`` defaults (capped by the limits), else the settings.
        """
        try:
            placement = get_placement(request.placement)
        except UnknownPlacementError as exc:
            raise CreativeInputError(str(exc.args[0]), param="placement", code="unknown_placement") from None
        template, label = self._template(placement, request.template, template)
        sampling = effective_sampling(
            template.sampling,
            self.settings,
            n=request.n,
            k=request.k,
            temperature=request.temperature,
            top_p=request.top_p,
        )
        check_sampling(sampling, self.settings, n_requested=request.n is not None)
        adapter = self.adapters.resolve(request.adapter)
        return ResolvedRequest(
            request=request,
            placement=placement,
            template=template,
            sampling=sampling,
            seed=request.seed,
            adapter=adapter,
            facts=ProductFacts.from_product(request.product),
            names=NameGuard.from_product(request.product),
            forbidden=ForbiddenWords.combine(self.settings.forbidden_words, request.forbidden_words),
            label=label,
        )

    @staticmethod
    def messages(resolved: ResolvedRequest) -> list[dict[str, str]]:
        """The chat messages: the template rendered with the request's profile, product and placement."""
        request = resolved.request
        variables = template_variables(request.profile, request.product, resolved.placement)
        try:
            return resolved.template.render(variables)
        except TemplateError as exc:  # validation makes this unreachable for saved versions: say which
            raise CreativeInputError(
                f"template {resolved.template.ref} cannot be rendered: {exc}",
                param="template",
                code="template_render_failed",
            ) from None

    def prompt_ids(self, resolved: ResolvedRequest) -> list[int]:
        """Render the template and tokenize it; refuse markup in untrusted text; enforce the token limit."""
        check_control_characters(resolved.request)
        try:
            ids = self.engine.encode_chat(self.messages(resolved))
        except SpecialTokenError as exc:  # the engine's tokenizer found chat markup in the text
            raise special_token_error(resolved.request, exc.token, resolved.template.ref) from None
        if len(ids) > self.settings.max_prompt_tokens:
            raise CreativeInputError(
                f"the prompt is {len(ids)} tokens, over the limit of {self.settings.max_prompt_tokens}; "
                "shorten the product description, features or profile lists",
                param="product",
                code="prompt_too_long",
            )
        return ids

    def sampling_spec(self, resolved: ResolvedRequest, n: int, seed: int | None) -> SamplingSpec:
        """Engine sampling for ``n`` candidates of ``resolved`` (JSON schema of its placement)."""
        return SamplingSpec(
            n=n,
            seed=seed,
            temperature=resolved.temperature,
            top_p=resolved.top_p,
            max_tokens=self.settings.max_output_tokens,
            json_schema=resolved.placement.json_schema(),
            adapter=resolved.adapter,
            exact_names=resolved.names.names if self.settings.exact_names else (),
            fit_words=self.settings.fit_words,
            fact_numbers=number_forms(resolved.facts) if self.settings.faithful_numbers else None,
        )

    async def run_round(
        self, resolved: ResolvedRequest, prompt_ids: list[int], n: int, seed: int | None, request_id: str
    ) -> Round:
        """Generate ``n`` candidates of ``resolved`` and assess each (parse, repair, check)."""
        output = await self.engine.generate(prompt_ids, self.sampling_spec(resolved, n, seed), request_id)
        candidates = [
            (
                completion,
                assess(
                    completion.text, resolved.placement, resolved.facts, resolved.forbidden, resolved.names
                ),
            )
            for completion in output.completions
        ]
        return Round(output.prompt_tokens, candidates)

    async def write(
        self,
        request: CreativeRequest,
        request_id: str | None = None,
        *,
        template: PromptTemplate | None = None,
    ) -> CreativeResult:
        """Generate, repair, check and regenerate until ``n`` variants pass or the rounds run out.

        ``template``, when given, is used instead of resolving the request's ``template`` reference.
        """
        started = time.perf_counter()
        request_id = request_id or f"cr-{uuid.uuid4().hex[:16]}"
        # Resolving may read the template registry (a database): keep it off the event loop.
        resolved = await asyncio.to_thread(self.resolve, request, template)
        prompt_ids = self.prompt_ids(resolved)
        variants: list[Variant] = []
        rejected: list[RejectedVariant] = []
        prompt_tokens = completion_tokens = 0
        rounds = 0
        missing = resolved.n
        # Greedy decoding would only write the same failing copy again: one round.
        max_rounds = 1 if resolved.temperature == 0 else self.settings.max_regenerations + 1
        for attempt in range(max_rounds):
            if missing == 0:
                break
            rounds += 1
            seed = None if resolved.seed is None else resolved.seed + attempt * resolved.n
            batch = await self.run_round(resolved, prompt_ids, missing, seed, f"{request_id}-{attempt}")
            prompt_tokens += batch.prompt_tokens
            for completion, verdict in batch.candidates:
                completion_tokens += completion.output_tokens
                if verdict.ok and verdict.fields is not None:
                    variants.append(self._variant(len(variants), completion, verdict, attempt))
                else:
                    rejected.append(self._rejected(completion, verdict, attempt))
            missing = resolved.n - len(variants)

        stats = GenerationStats(
            requested=resolved.n,
            returned=len(variants),
            valid_first_try=sum(v.valid_first_try for v in variants),
            repaired=sum(v.repaired for v in variants),
            regenerated=sum(v.attempt > 0 for v in variants),
            rejected=len(rejected),
            rounds=rounds,
        )
        self._log(request_id, resolved, stats, variants)
        return CreativeResult(
            request_id=request_id,
            placement=resolved.placement.name,
            template=TemplateRef(
                name=resolved.template.name,
                version=resolved.template.version,
                ref=resolved.template.ref,
                label=resolved.label,
            ),
            model=self.engine.model_name,
            adapter=resolved.adapter.name if resolved.adapter else None,
            seed=resolved.seed,
            k=resolved.k,
            variants=variants,
            rejected=rejected,
            stats=stats,
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            sampling=resolved.sampling,
            timings={"generate_s": round(time.perf_counter() - started, 4)},
        )

    @staticmethod
    def _variant(index: int, completion: Completion, verdict: Assessment, attempt: int) -> Variant:
        assert verdict.fields is not None
        return Variant(
            index=index,
            fields=verdict.fields,
            valid_first_try=attempt == 0 and not verdict.repairs,
            repaired=bool(verdict.repairs),
            repairs=verdict.repairs,
            attempt=attempt,
            seed=completion.seed,
            output_tokens=completion.output_tokens,
        )

    @staticmethod
    def _rejected(completion: Completion, verdict: Assessment, attempt: int) -> RejectedVariant:
        reasons = list(verdict.reasons)
        if completion.finish_reason == "length":
            reasons.append("stopped at the max_output_tokens limit")
        return RejectedVariant(attempt=attempt, seed=completion.seed, reasons=reasons, raw=completion.text)

    def _log(
        self, request_id: str, resolved: ResolvedRequest, stats: GenerationStats, variants: list[Variant]
    ) -> None:
        extra: dict[str, object] = {
            "request_id": request_id,
            "placement": resolved.placement.name,
            "template": resolved.template.ref,
            "adapter": resolved.adapter.name if resolved.adapter else None,
            **stats.model_dump(),
        }
        if self.settings.log_sensitive:
            extra["profile"] = resolved.request.profile.model_dump()
            extra["copy"] = [v.fields for v in variants]
        logger.info("creatives written", extra=extra)
