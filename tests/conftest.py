"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SAMPLE_REQUEST: dict[str, Any] = {
    "profile": {
        "id": "u1",
        "age": 34,
        "location": "Denver",
        "interests": ["trail running"],
        "recent_activity": ["viewed waterproof jackets"],
        "segment": "outdoor",
        "language": "en",
    },
    "product": {
        "name": "TrailRunner X",
        "brand": "Peak",
        "description": "Waterproof trail shoe",
        "features": ["waterproof", "380 g"],
        "price": 89,
        "currency": "USD",
    },
    "placement": "google_search",
    "n": 8,
    "k": 3,
    "seed": 7,
}


@pytest.fixture
def sample_request() -> dict[str, Any]:
    """A fresh copy of the issue's example request."""
    return copy.deepcopy(SAMPLE_REQUEST)
