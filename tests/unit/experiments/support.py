"""Helpers for the experiments' tests: an experiment spec and its pinned arms."""

from __future__ import annotations

from typing import Any

from experiments.models import ExperimentCreate, PinnedArm


def spec(**overrides: Any) -> ExperimentCreate:
    """A two-arm google_search experiment (control ``a``)."""
    body: dict[str, Any] = {
        "name": "headline test",
        "placement": "google_search",
        "control": "a",
        "arms": [
            {"name": "a", "template": "google_search@1"},
            {"name": "b", "template": "google_search@1", "n": 2},
        ],
    }
    return ExperimentCreate.model_validate({**body, **overrides})


def pinned(names: tuple[str, ...] = ("a", "b")) -> list[PinnedArm]:
    """What each arm serves, as pin_arms would fix it."""
    return [
        PinnedArm(name=name, template="google_search@1", adapter="house", propensity=1 / len(names))
        for name in names
    ]
