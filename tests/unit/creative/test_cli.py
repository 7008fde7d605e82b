from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.errors import CreativeInputError
from core.paths import SOURCE_ROOT
from core.schema import CreativeRequest, CreativeResult
from creative.cli import generate_file, main
from creative.pipeline import CreativePipeline
from creative.settings import Settings
from creative.writer import CreativeWriter
from tests.fakes import FakeEngine, json_copy

GOOD = json_copy(headline="Trail shoes that stay dry", description="Peak TrailRunner X keeps feet dry.")


def write_rows(path: Path, rows: list[Any]) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")


async def test_rows_keep_input_order_and_bad_rows_become_errors(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    rows: list[Any] = []
    for i in range(12):
        row = dict(sample_request, seed=i, n=2, k=1)
        rows.append(row)
    rows[3] = "{not json"
    rows[5] = dict(sample_request, placement="billboard")
    rows[7] = {**sample_request, "profile": {**sample_request["profile"], "age": 7}}
    rows.insert(9, "")  # blank lines are not rows
    source, target = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    write_rows(source, rows)

    engine = FakeEngine(lambda spec, call: [GOOD] * spec.n, delay=0.01)
    writer = CreativeWriter(engine, Settings())
    summary = await generate_file(source, target, writer.write, concurrency=4, progress=False)

    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13]
    assert records[3]["error"]["code"] == "invalid_json"
    assert records[5]["error"] == {
        "message": "unknown placement 'billboard'; known placements: email, google_search, meta_feed, push",
        "type": "invalid_request_error",
        "param": "placement",
        "code": "unknown_placement",
    }
    assert records[7]["error"]["param"] == "profile.age"
    good = [r for r in records if "error" not in r]
    assert len(good) == 9 and all(len(r["variants"]) == 2 for r in good)
    assert good[0]["variants"][0]["valid_first_try"] is True
    assert summary.rows == 12 and summary.errors == 3 and summary.variants == 18
    assert 1 < engine.max_in_flight <= 4
    assert not (tmp_path / "out.jsonl.partial").exists()


async def test_an_exception_in_one_row_does_not_stop_the_run(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    source, target = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    write_rows(source, [dict(sample_request, seed=s) for s in range(3)])

    async def handler(request: CreativeRequest, request_id: str) -> CreativeResult:
        await asyncio.sleep(0)
        if request.seed == 2:
            raise CreativeInputError("too long", param="product", code="prompt_too_long")
        raise RuntimeError("engine hiccup")

    await generate_file(source, target, handler, concurrency=2, progress=False)
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["error"]["type"] for r in records] == ["server_error", "server_error", "invalid_request_error"]
    assert records[2]["error"]["code"] == "prompt_too_long"


def test_cli_rejects_a_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl")])
    assert code == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("rank", [True, False])
async def test_rows_are_ranked_to_k_unless_no_rank(
    tmp_path: Path, sample_request: dict[str, Any], rank: bool
) -> None:
    from ranking.rank import Ranker
    from tests.unit.api.support import distinct_copy
    from tests.unit.ranking.fakes import WordEmbedder

    source, target = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    write_rows(source, [dict(sample_request, n=6, k=2, seed=s) for s in range(3)])
    pipeline = CreativePipeline(CreativeWriter(FakeEngine(distinct_copy), Settings()), Ranker(WordEmbedder()))

    async def handler(request: CreativeRequest, request_id: str) -> CreativeResult:
        return await pipeline.run(request, request_id, rank=rank)

    summary = await generate_file(source, target, handler, concurrency=2, progress=False)
    records = [json.loads(line) for line in target.read_text().splitlines()]
    for record in records:
        assert record["ranked"] is rank and record["stats"]["returned"] == 6
        if rank:
            assert [v["score"]["rank"] for v in record["variants"]] == [1, 2]
        else:
            assert [v["index"] for v in record["variants"]] == list(range(6))
            assert all(v["score"] is None for v in record["variants"])
    assert (summary.as_dict()["rank_share_of_request_time"] is not None) is rank


def test_the_creative_core_does_not_import_ranking() -> None:
    code = (
        "import sys, creative.writer, creative.pipeline, creative.cli, creative.engine; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'ranking'], 'ranking imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=SOURCE_ROOT)
