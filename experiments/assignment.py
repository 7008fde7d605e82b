"""Sticky assignment: a unit's arm and its stored id come from HMACs keyed by the experiment's secret salt.

The same unit always gets the same arm of an experiment for the same shares (nothing is stored to remember
it), units of different experiments are assigned independently, and the stored unit id is a keyed hash that
cannot be reversed or joined across experiments without the salt.

Experiments use an exponential race (weighted rendezvous hashing): each arm draws ``E = −ln U`` from the
HMAC of (unit, arm name) and the unit goes to the arm with the smallest ``E ÷ share``. An arm wins with
probability exactly its share, whatever the shares are, so an adaptive policy's logged propensity is the
real one; and because each arm's draw depends on its name only, adding an arm moves only the units the new
arm wins, retiring one moves only its own units, and a small change of shares moves few units. Experiments
created before the race keep the cumulative-weights split (``weighted_cdf``), so none of their units moves.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import math
import secrets
from collections.abc import Mapping, Sequence


def new_salt() -> str:
    """A fresh 256-bit secret for one experiment."""
    return secrets.token_hex(32)


def _digest(salt: str, purpose: str, experiment_id: str, unit_id: str) -> bytes:
    message = "\x00".join((purpose, experiment_id, unit_id)).encode("utf-8")
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).digest()


def unit_hash(salt: str, experiment_id: str, unit_id: str) -> str:
    """The id stored for a unit: never the raw id."""
    return _digest(salt, "unit", experiment_id, unit_id).hex()


def assign_arm(salt: str, experiment_id: str, unit_id: str, weights: Sequence[float]) -> int:
    """The index of the unit's arm: a uniform draw from the HMAC, split by ``weights``."""
    draw = int.from_bytes(_digest(salt, "arm", experiment_id, unit_id)[:8], "big") / 2**64
    total = float(sum(weights))
    bounds = [edge / total for edge in itertools.accumulate(weights)]
    return min(bisect.bisect_right(bounds, draw), len(weights) - 1)


def _uniform(salt: str, experiment_id: str, unit_id: str, arm: str) -> float:
    """A uniform draw in (0, 1) for (unit, arm), never exactly 0 or 1."""
    raw = int.from_bytes(_digest(salt, "race\x00" + arm, experiment_id, unit_id)[:8], "big")
    return (raw + 0.5) / 2**64


def race_arm(salt: str, experiment_id: str, unit_id: str, shares: Mapping[str, float]) -> str:
    """The arm (by name) the unit wins among ``shares`` (positive; they need not sum to 1)."""
    best, best_key = "", math.inf
    for arm, share in shares.items():
        key = -math.log(_uniform(salt, experiment_id, unit_id, arm)) / share
        if key < best_key:
            best, best_key = arm, key
    return best
