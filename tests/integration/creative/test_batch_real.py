"""The batch on the real engine and model: in process (mixed adapters, ranking, report), a ``kill -9`` in
the middle of a run then the same command again, and the Ray runner against the local one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.paths import SOURCE_ROOT
from creative.adapters import registry_from_settings
from creative.batch.report import build_report
from creative.batch.runner import RunTimes, finish, prepare_job, run_units
from creative.batch.work import RankBatcher, UnitProcessor
from creative.engine import VllmEngine
from creative.settings import Settings
from creative.writer import CreativeWriter
from prompts.sources import template_source_from_settings

pytestmark = pytest.mark.integration

EXAMPLE_ROWS = SOURCE_ROOT / "examples" / "rows.jsonl"
SMALL_ENV = {
    "ADCREATIVE_MAX_MODEL_LEN": "1024",
    "ADCREATIVE_KV_CACHE_BYTES": str(128 << 20),
    "ADCREATIVE_MAX_NUM_SEQS": "32",
    "ADCREATIVE_ENABLE_LORA": "false",  # LoRA decoding is ~10x slower on CPU; the in-process test mixes them
    "ADCREATIVE_MAX_REGENERATIONS": "1",
}


def example_rows(path: Path, count: int) -> Path:
    lines = [line for line in EXAMPLE_ROWS.read_text().splitlines() if line.strip()][:count]
    path.write_text("\n".join(lines) + "\n")
    return path


def batch_command(rows: Path, arms: Path, output: Path, *extra: str) -> list[str]:
    paths = ["--input", str(rows), "--arms", str(arms), "--output", str(output)]
    return [sys.executable, "-m", "creative", "batch", *paths, *extra]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_a_small_batch_mixes_adapters_ranks_and_reports(
    tmp_path: Path, real_engine: VllmEngine, engine_settings: Settings
) -> None:
    from ranking.rank import Ranker

    rows = example_rows(tmp_path / "rows.jsonl", 3)
    arms = tmp_path / "arms.yaml"
    arms.write_text(
        "arms:\n"
        "  - {name: base, adapter: null, temperature: 0.8, n: 2, k: 1, seed: 3}\n"
        "  - {name: house, adapter: house, template: {push: 'push:production'}, temperature: 0.8, n: 2, k: 1,"
        " seed: 3}\n"
    )
    adapters = registry_from_settings(engine_settings)
    job = prepare_job(
        rows, arms, tmp_path / "out.jsonl", engine_settings, template_source_from_settings, adapters
    )
    ranker = Ranker.from_settings()
    processor = UnitProcessor(
        CreativeWriter(real_engine, engine_settings, template_source_from_settings(), adapters),
        RankBatcher(ranker),
    )
    written = await run_units(job, processor, concurrency=8, progress=False)
    summary = finish(job, RunTimes(units_run=written, seconds=1.0))

    out = records(job.output_path)
    assert [(r["row"], r["arm"]) for r in out] == [
        (row, arm) for row in (1, 2, 3) for arm in ("base", "house")
    ]
    assert [r["adapter"] for r in out] == [None, "house"] * 3
    for record in out:
        assert "error" not in record, record
        assert record["template"]["ref"] == f"{record['placement']}@1"
        assert record["usage"]["completion_tokens"] > 0 and record["stats"]["requested"] == 2
        for variant in record["variants"]:
            assert variant["score"]["rank"] == 1 and isinstance(variant["valid_first_try"], bool)
    assert summary["records"] == 6 and summary["errors"] == 0

    report = build_report(job.output_path, input_path=rows, embed=ranker.embedder.embed)
    assert report["arms"] == ["base", "house"]
    assert report["figures"]["house"]["adapter"] == "house"
    assert report["figures"]["base"]["valid_after_repair_rate"] is not None


def test_kill_9_then_the_same_command_finishes_every_row_and_arm_exactly_once(tmp_path: Path) -> None:
    rows = example_rows(tmp_path / "rows.jsonl", 6)
    arms = tmp_path / "arms.yaml"
    arms.write_text(
        "arms:\n"
        "  - {name: a, adapter: null, temperature: 0.8, n: 1, k: 1, seed: 1}\n"
        "  - {name: b, adapter: null, temperature: 0, n: 1, k: 1, seed: 1}\n"
    )
    output = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial.jsonl"
    env = {**os.environ, **SMALL_ENV}
    command = batch_command(rows, arms, output, "--quiet")
    log = tmp_path / "first.log"
    with log.open("wb") as stderr:  # a file, not a pipe: nobody reads a pipe while we wait
        first = subprocess.Popen(
            [*command, "--concurrency", "1"],
            cwd=SOURCE_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: the engine core process dies with it
        )
    deadline = time.monotonic() + 600
    try:
        while not (partial.is_file() and partial.read_bytes().count(b"\n") >= 1):
            assert first.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "no record written in 10 minutes"
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    assert not output.exists()
    done_at_kill = partial.read_bytes().count(b"\n")
    assert 1 <= done_at_kill < 12

    second = subprocess.run(
        command, cwd=SOURCE_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert second.returncode == 0, second.stderr[-3000:]
    out = records(output)
    assert [(r["row"], r["arm"]) for r in out] == [(row, arm) for row in range(1, 7) for arm in ("a", "b")]
    summary = json.loads(next(ln for ln in second.stderr.splitlines() if ln.startswith('{"summary"')))[
        "summary"
    ]
    assert summary["resumed_records"] >= done_at_kill and summary["records"] == 12
    assert not partial.exists()

    third = subprocess.run(command, cwd=SOURCE_ROOT, env=env, capture_output=True, text=True, check=False)
    assert third.returncode == 0 and "already complete" in third.stderr
    assert records(output) == out


def test_the_ray_runner_writes_the_same_output_as_the_local_runner(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    rows = example_rows(tmp_path / "rows.jsonl", 3)
    arms = tmp_path / "arms.yaml"
    arms.write_text(
        "arms:\n"
        "  - {name: greedy, adapter: null, temperature: 0, n: 1, k: 1, seed: 3}\n"
        "  - {name: seeded, adapter: null, temperature: 0.8, n: 2, k: 1, seed: 3}\n"
    )
    # float32: bf16 kernels round differently for different batch shapes, and the runners batch differently
    env = {**os.environ, **SMALL_ENV, "ADCREATIVE_DTYPE": "float32", "ADCREATIVE_EMBEDDER_DTYPE": "float32"}
    outputs = {}
    for runner in ("local", "ray"):
        outputs[runner] = tmp_path / f"{runner}.jsonl"
        completed = subprocess.run(
            [*batch_command(rows, arms, outputs[runner], "--quiet"), "--runner", runner],
            cwd=SOURCE_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
    local, ray = records(outputs["local"]), records(outputs["ray"])
    assert len(local) == 6 and all("error" not in r for r in local)
    assert ray == local
    assert outputs["ray"].read_bytes() == outputs["local"].read_bytes()
