from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.schema import CreativeResult
from creative.batch.report import build_report, format_table, rate_interval, write_chart
from creative.batch.runner import RunTimes, finish, run_units
from tests.fakes import FakeEngine
from tests.unit.creative.batch.support import make_job, processor
from tests.unit.ranking.fakes import WordEmbedder

TWO_ARMS = """
arms:
  - name: plain
    adapter: null
    n: 3
    k: 2
    seed: 1
  - name: numbers
    adapter: null
    n: 3
    k: 2
    seed: 1
"""


async def test_report_compares_arms_side_by_side_and_draws_a_chart(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    from ranking.rank import Ranker

    profiles = [
        {"id": "a", "interests": ["trail running", "mountains"], "segment": "outdoor"},
        {"id": "b", "interests": ["office work", "coffee"], "segment": "commuter"},
    ]
    rows = [{**sample_request, "profile": profiles[i % 2], "seed": i} for i in range(6)]
    job = make_job(tmp_path, rows, arms=TWO_ARMS)

    def script(spec: Any, call: int) -> list[str]:
        names = list(spec.json_schema["properties"])
        if spec.temperature == 0.8 and call % 2:  # every other request: one unfaithful candidate
            texts = [{n: f"Peak trail shoe {i} only 5 USD" for n in names} for i in range(spec.n)]
            texts[0] = {n: "Peak shoe for trail running mountains" for n in names}
        else:
            texts = [{n: f"Peak {w} shoe for trail running" for n in names} for w in ("dry", "light", "fast")]
        return [json.dumps(t) for t in texts[: spec.n]]

    engine = FakeEngine(script)
    written = await run_units(job, processor(engine, Ranker(WordEmbedder())), concurrency=1, progress=False)
    finish(job, RunTimes(units_run=written))

    embedder = WordEmbedder()
    report = build_report(
        job.output_path,
        input_path=job.input_path,
        embed=embedder.embed,
        template_text=lambda ref: "Write an ad",
    )
    assert report["arms"] == ["plain", "numbers"]
    for arm in report["arms"]:
        figures = report["figures"][arm]
        assert figures["records"] == 6 and figures["errors"] == 0
        assert 0 <= figures["valid_first_try_rate"] <= 1
        assert figures["faithfulness"] is not None and figures["faithfulness"] < 1  # unfaithful ones seen
        assert figures["personalization"] is not None  # pairs: same product, different profiles
        assert figures["diversity"] is not None and figures["mean_score"] is not None
        assert figures["novelty"] is not None
    table = format_table(report)
    assert table.splitlines()[0].split() == ["plain", "numbers"]
    assert "valid first try" in table and "personalization" in table and "95% interval" in table
    assert all(len(report["figures"][arm]["valid_first_try_rate_interval"]) == 2 for arm in report["arms"])

    png = write_chart(report, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = write_chart(report, tmp_path / "chart.html").read_text()
    assert "data:image/png;base64," in page and "valid first try" in page


def test_report_command_on_a_parquet_output_without_embeddings(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    import asyncio

    from creative.cli import main

    job = make_job(tmp_path, [{**sample_request, "seed": 1}], arms=TWO_ARMS, output="out.parquet")

    def script(spec: Any, call: int) -> list[str]:
        return [
            json.dumps({n: f"Peak shoe {w}" for n in spec.json_schema["properties"]}) for w in ("a", "b", "c")
        ]

    written = asyncio.run(run_units(job, processor(FakeEngine(script)), concurrency=2, progress=False))
    finish(job, RunTimes(units_run=written))
    assert main(["report", str(job.output_path), "--no-embed", "--chart", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_candidate_rates_carry_the_online_readouts_interval() -> None:
    def result(valid: int, rejected: int) -> CreativeResult:
        stats = {
            "requested": 4,
            "returned": valid,
            "valid_first_try": valid,
            "repaired": 0,
            "regenerated": 0,
            "rejected": rejected,
            "rounds": 1,
        }
        return CreativeResult.model_validate(
            {
                "request_id": "r",
                "placement": "google_search",
                "template": {"name": "t", "version": 1},
                "model": "m",
                "seed": None,
                "k": 1,
                "variants": [],
                "rejected": [],
                "stats": stats,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                "sampling": {"n": 4, "k": 1, "temperature": 0.8, "top_p": 0.95},
                "timings": {},
            }
        )

    results = [result(v, 4 - v) for v in (4, 3, 2, 4, 1, 3, 4, 2)]
    interval = rate_interval(results, lambda r: r.stats.valid_first_try)
    assert interval is not None
    valid = np.array([4, 3, 2, 4, 1, 3, 4, 2], dtype=float)
    rate = valid.sum() / 32
    half = 1.959964 * np.std(valid / 4 - rate, ddof=1) / np.sqrt(8)  # equal denominators: the mean's interval
    assert interval == pytest.approx([rate - half, rate + half], rel=1e-5)
    assert rate_interval(results[:1], lambda r: r.stats.valid_first_try) is None
