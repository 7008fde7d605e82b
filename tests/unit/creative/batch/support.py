"""Helpers for the batch tests: a fake engine writing placement-shaped copy, jobs wired to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from creative.adapters import SHIPPED_ADAPTERS_DIR, AdapterRegistry
from creative.batch.runner import BatchJob, prepare_job
from creative.batch.work import RankBatcher, UnitProcessor
from creative.engine import SamplingSpec
from creative.settings import Settings
from creative.writer import CreativeWriter
from prompts.store import TemplateStore
from tests.fakes import FakeEngine

WORDS = ["Dry", "Light", "Fast", "Grippy", "Bold", "Calm"]


def placement_copy(spec: SamplingSpec, call: int) -> list[str]:
    """Distinct, short, faithful copy with exactly the fields the placement's schema asks for."""
    assert spec.json_schema is not None
    names = list(spec.json_schema["properties"])
    return [json.dumps({name: f"{WORDS[i % 6]} Peak copy {name}" for name in names}) for i in range(spec.n)]


def registry() -> AdapterRegistry:
    """The shipped adapters (house, playful, premium), no base-model hash check."""
    adapters = AdapterRegistry(None, [SHIPPED_ADAPTERS_DIR], 16, default="house")
    adapters.load_folder(SHIPPED_ADAPTERS_DIR)
    return adapters


def write_rows(path: Path, rows: list[Any]) -> Path:
    """JSONL with dict rows dumped and string rows written as they are."""
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


ARMS_YAML = """
arms:
  - name: control
    adapter: null
    temperature: 0.8
    n: 3
    k: 2
    seed: 1
  - name: house
    adapter: house
    template: google_search@1
    n: 2
    k: 1
    seed: 5
"""


def make_job(tmp_path: Path, rows: list[Any], arms: str = ARMS_YAML, output: str = "out.jsonl") -> BatchJob:
    """A prepared job over ``rows`` (files under ``tmp_path``)."""
    source = write_rows(tmp_path / "rows.jsonl", rows)
    arms_path = tmp_path / "arms.yaml"
    if not arms_path.exists() or arms_path.read_text() != arms:
        arms_path.write_text(arms)
    return prepare_job(
        source, arms_path, tmp_path / output, Settings(), TemplateStore.from_directory, registry()
    )


def processor(engine: FakeEngine, ranker: Any = None) -> UnitProcessor:
    """A unit processor on ``engine`` (ranking with ``ranker`` when given)."""
    writer = CreativeWriter(engine, Settings(), TemplateStore.from_directory(), registry())
    return UnitProcessor(writer, RankBatcher(ranker) if ranker is not None else None)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
