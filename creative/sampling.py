"""The sampling a request runs with, decided in one place for the API, preview, CLI, batch and arms.

Each value is the request's own, else its template version's ``sampling`` default (``n`` and ``k`` capped by
the limits), else the settings'. The rules between them: ``n`` and ``k`` within the limits, ``k <= n``, and
greedy decoding (temperature 0) writes one distinct candidate, so it needs ``n = 1``.
"""

from __future__ import annotations

from core.arms import greedy_conflict
from core.errors import CreativeInputError
from core.schema import Sampling
from creative.settings import Settings
from prompts.template import SamplingDefaults


def _first(*values: float | None) -> float:
    """The first value that is set (the last one always is)."""
    for value in values:
        if value is not None:
            return value
    raise ValueError("no value set")


def effective_sampling(
    defaults: SamplingDefaults,
    settings: Settings,
    *,
    n: int | None = None,
    k: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
) -> Sampling:
    """The sampling for the requested values (None: not given) over a template version's ``defaults``.

    No rule is checked here (see :func:`check_sampling`): arms files ask what a template would do.
    """
    s = settings
    effective_n = n if n is not None else min(defaults.n or s.default_n, s.max_n)
    return Sampling(
        n=effective_n,
        k=k if k is not None else min(defaults.k or s.default_k, s.max_k, effective_n),
        temperature=_first(temperature, defaults.temperature, s.default_temperature),
        top_p=_first(top_p, defaults.top_p, s.default_top_p),
    )


def check_sampling(sampling: Sampling, settings: Settings, *, n_requested: bool) -> None:
    """Raise :class:`CreativeInputError` naming the field when ``sampling`` breaks a limit or a rule.

    ``n_requested``: the request set ``n`` itself (a greedy conflict then names ``n``, else ``temperature``).
    """
    n, k = sampling.n, sampling.k
    if n > settings.max_n:
        raise CreativeInputError(
            f"n={n} exceeds the limit of {settings.max_n}", param="n", code="limit_exceeded"
        )
    if k > settings.max_k:
        raise CreativeInputError(
            f"k={k} exceeds the limit of {settings.max_k}", param="k", code="limit_exceeded"
        )
    if k > n:
        raise CreativeInputError(f"k={k} cannot exceed n={n}", param="k", code="invalid_value")
    conflict = greedy_conflict(sampling.temperature, n)
    if conflict is not None:
        raise CreativeInputError(
            f"{conflict}; raise the temperature for several candidates",
            param="n" if n_requested else "temperature",
            code="invalid_value",
        )
