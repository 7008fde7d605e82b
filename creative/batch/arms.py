"""The arms file: what each experiment arm changes, validated as a whole before any work starts.

An arm is a template version × an adapter × sampling settings::

    arms:
      - name: control
        template: google_search@1        # or `name:label`, `name`, a {placement: ref} map, or omitted
        adapter: house                   # null: the base model; omitted: the configured default
        temperature: 0.8
        top_p: 0.95
        n: 4
        k: 2
        seed: 7

Every problem in the file is reported at once, each naming the arm and the field. Template labels and the
``default`` adapter are resolved once, at the start of a run, into a :class:`ResolvedArm` that pins
``name@version`` per placement; the run's manifest records it, so a resumed run uses the same versions even
if a label has moved since.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.arms import Arm, cross_field_problems, greedy_conflict
from core.placements import PLACEMENTS
from creative.adapters import AdapterError, AdapterRegistry
from creative.sampling import effective_sampling
from creative.settings import Settings
from prompts.refs import TemplateNotFoundError, TemplateSource
from prompts.template import TemplateError


class ArmsFileError(ValueError):
    """The arms file cannot be used; ``problems`` lists every problem found, one line each."""

    def __init__(self, path: Path | str, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            f"{path}: {len(self.problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class ResolvedArm:
    """An arm with its template pinned per placement (None: the arm's template cannot serve it) and its
    adapter resolved to a registered name (None: the base model)."""

    arm: Arm
    templates: dict[str, str | None]
    adapter: str | None

    @property
    def name(self) -> str:
        """The arm's name."""
        return self.arm.name

    def to_json(self) -> dict[str, Any]:
        """What the manifest records."""
        return {
            "name": self.name,
            "templates": self.templates,
            "adapter": self.adapter,
            "arm": self.arm.model_dump(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResolvedArm:
        """Inverse of :meth:`to_json`."""
        return cls(Arm.model_validate(data["arm"]), dict(data["templates"]), data["adapter"])


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _where(index: int, raw: object) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"arm #{index + 1}" + (f" ({name!r})" if isinstance(name, str) else "")


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(arm)"


def parse_arms(text: str, source: Path | str = "arms file") -> list[Arm]:
    """Parse and validate the YAML text of an arms file; :class:`ArmsFileError` lists every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ArmsFileError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict) or set(data) != {"arms"}:
        raise ArmsFileError(
            source, ["the file must be a mapping with exactly one key, `arms`: a list of arms"]
        )
    raw_arms = data["arms"]
    if not isinstance(raw_arms, list) or not raw_arms:
        raise ArmsFileError(source, ["`arms` must be a non-empty list"])
    problems: list[str] = []
    arms: list[Arm] = []
    for index, raw in enumerate(raw_arms):
        arm_problems = [f"{_where(index, raw)}: {p}" for p in cross_field_problems(raw)]
        try:
            arm = Arm.model_validate(raw)
        except ValidationError as exc:
            arm_problems[:0] = [
                f"{_where(index, raw)}: {_field(error['loc'])}: {error['msg']}"
                for error in exc.errors(include_url=False)
            ]
        else:
            if not arm_problems:
                arms.append(arm)
        problems.extend(arm_problems)
    seen: set[str] = set()
    for arm in arms:
        if arm.name in seen:
            problems.append(f"arm {arm.name!r}: name: duplicate arm name")
        seen.add(arm.name)
    if problems:
        raise ArmsFileError(source, problems)
    return arms


def load_arms(path: Path) -> list[Arm]:
    """Read and validate an arms file (structure only; :func:`resolve_arms` checks templates/adapters)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArmsFileError(path, [f"cannot read the file: {exc}"]) from None
    return parse_arms(text, path)


def _check_limits(arm: Arm, settings: Settings) -> list[str]:
    problems = []
    if arm.n is not None and arm.n > settings.max_n:
        problems.append(
            f"arm {arm.name!r}: n: {arm.n} exceeds the limit of {settings.max_n} (ADCREATIVE_MAX_N)"
        )
    if arm.k is not None and arm.k > settings.max_k:
        problems.append(
            f"arm {arm.name!r}: k: {arm.k} exceeds the limit of {settings.max_k} (ADCREATIVE_MAX_K)"
        )
    return problems


def _pin_templates(arm: Arm, source: TemplateSource) -> tuple[dict[str, str | None], list[str]]:
    """``{placement: name@version or None}`` for every placement, and the problems found."""
    pinned: dict[str, str | None] = {}
    problems: list[str] = []
    where = f"arm {arm.name!r}: template"
    chosen = arm.template if isinstance(arm.template, dict) else {}
    for key in chosen:
        if key not in PLACEMENTS:
            problems.append(f"{where}.{key}: unknown placement; known: {', '.join(sorted(PLACEMENTS))}")
    if isinstance(arm.template, str):
        try:
            template = source.resolve(arm.template)
        except (TemplateNotFoundError, TemplateError) as exc:
            return {}, [f"{where}: {exc}"]
        pinned = {p: (template.ref if p in template.placements else None) for p in sorted(PLACEMENTS)}
        if not any(pinned.values()):
            problems.append(f"{where}: {template.ref} serves none of the placements {sorted(PLACEMENTS)}")
        return pinned, problems
    for placement in sorted(PLACEMENTS):
        ref = chosen.get(placement)
        try:
            pinned[placement] = source.for_placement(placement, ref).ref
        except (TemplateNotFoundError, TemplateError) as exc:
            if ref is not None:  # the placement's own default missing is not this arm's problem
                problems.append(f"{where}.{placement}: {exc}")
            pinned[placement] = None
    return pinned, problems


def _greedy_problems(
    arm: Arm, pinned: dict[str, str | None], templates: TemplateSource, settings: Settings
) -> list[str]:
    """Greedy decoding writes one candidate: catch an arm whose effective ``n`` would be more than 1."""
    if arm.n is not None:
        return []  # checked with the arm's own fields
    problems = []
    for ref in sorted({ref for ref in pinned.values() if ref is not None}):
        sampling = effective_sampling(templates.resolve(ref).sampling, settings, temperature=arm.temperature)
        if greedy_conflict(sampling.temperature, sampling.n) is not None:
            problems.append(
                f"arm {arm.name!r}: n: temperature 0 is greedy decoding, so every row needs n: 1, but {ref} "
                f"would write n={sampling.n}; set n: 1 in the arm"
            )
    return problems


def resolve_arms(
    arms: Sequence[Arm], templates: TemplateSource, adapters: AdapterRegistry, settings: Settings
) -> list[ResolvedArm]:
    """Pin every arm's templates and adapter and check its limits; :class:`ArmsFileError` lists every
    problem of every arm."""
    problems: list[str] = []
    resolved: list[ResolvedArm] = []
    for arm in arms:
        problems.extend(_check_limits(arm, settings))
        pinned, template_problems = _pin_templates(arm, templates)
        problems.extend(template_problems)
        if not template_problems:
            problems.extend(_greedy_problems(arm, pinned, templates, settings))
        adapter: str | None = None
        try:
            found = adapters.resolve(arm.adapter)
            adapter = found.name if found is not None else None
        except AdapterError as exc:
            hint = "" if settings.enable_lora else " (LoRA is disabled: ADCREATIVE_ENABLE_LORA=false)"
            problems.append(f"arm {arm.name!r}: adapter: {exc}{hint}")
        resolved.append(ResolvedArm(arm, pinned, adapter))
    if problems:
        raise ArmsFileError("arms file", problems)
    return resolved


def check_recorded_adapters(arms: Sequence[ResolvedArm], adapters: AdapterRegistry) -> None:
    """On resume: every adapter the manifest pinned must still be registered."""
    problems = []
    for arm in arms:
        if arm.adapter is None:
            continue
        try:
            adapters.resolve(arm.adapter)
        except AdapterError as exc:
            problems.append(f"arm {arm.name!r}: adapter: {exc}")
    if problems:
        raise ArmsFileError("manifest", problems)
