"""An arm: what one variant of a comparison changes (template version × adapter × sampling), the shape the
offline batch's arms file and an online experiment's arms share, validated the same way."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.schema import MAX_SEED

ARM_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
TemplateRefText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


def greedy_conflict(temperature: float, n: int) -> str | None:
    """Why ``n`` candidates cannot be written at ``temperature``, or None when they can."""
    if temperature == 0 and n > 1:
        return f"temperature 0 is greedy decoding: every candidate would be the same, so n must be 1, not {n}"
    return None


class Arm(BaseModel):
    """One arm; unset sampling fields fall back to the request (or row), then to the template and settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=ARM_NAME_PATTERN)]
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    template: TemplateRefText | dict[str, TemplateRefText] | None = Field(
        default=None,
        description="`name@N`, `name:label` or `name` for every row; or a {placement: ref} map (other "
        "placements use their own template); omitted: each placement's production template.",
    )
    adapter: Annotated[str, StringConstraints(min_length=1, max_length=48)] | None = Field(
        default="default", description="A LoRA adapter by name; null: the base model."
    )
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1, le=128)
    k: int | None = Field(default=None, ge=1, le=128)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)


def cross_field_problems(raw: object) -> list[str]:
    """Problems between fields of one raw arm, as ``field: message`` (checked even when other fields are
    invalid)."""
    if not isinstance(raw, dict):
        return []
    n, k, temperature = raw.get("n"), raw.get("k"), raw.get("temperature")
    problems = []
    if isinstance(n, int) and isinstance(k, int) and k > n:
        problems.append(f"k: k={k} cannot exceed n={n}")
    if isinstance(temperature, int | float) and isinstance(n, int):
        conflict = greedy_conflict(temperature, n)
        if conflict is not None:
            problems.append(f"n: {conflict}")
    return problems
