"""Sticky assignment: a unit's arm and its stored id come from HMACs keyed by the experiment's secret salt.

The same unit always gets the same arm of an experiment (nothing is stored to remember it), units of
different experiments are assigned independently, and the stored unit id is a keyed hash that cannot be
reversed or joined across experiments without the salt.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Sequence


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
