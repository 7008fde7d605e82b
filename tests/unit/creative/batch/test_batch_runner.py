from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from creative.batch.io import read_records
from creative.batch.journal import ResumeError
from creative.batch.runner import RunTimes, finish, run_units
from creative.batch.work import BatchAbortedError, UnitProcessor
from tests.fakes import FakeEngine
from tests.unit.creative.batch.support import make_job, placement_copy, processor, read_jsonl
from tests.unit.ranking.fakes import WordEmbedder


def rows_of(sample_request: dict[str, Any], count: int) -> list[Any]:
    placements = ["google_search", "meta_feed", "push", "email"]
    return [{**sample_request, "placement": placements[i % 4], "seed": i} for i in range(count)]


async def test_every_row_times_every_arm_once_in_order_with_bad_rows_reported(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    from ranking.rank import Ranker

    rows = rows_of(sample_request, 8)
    rows[2] = "{not json"
    rows[5] = {**sample_request, "profile": {**sample_request["profile"], "age": 7}}
    job = make_job(tmp_path, rows)
    engine = FakeEngine(placement_copy, delay=0.01)
    embedder = WordEmbedder()
    written = await run_units(job, processor(engine, Ranker(embedder)), concurrency=5, progress=False)
    summary = finish(job, RunTimes(units_run=written, seconds=1.0))

    records = read_jsonl(job.output_path)
    assert [(r["row"], r["arm"]) for r in records] == [
        (row, arm) for row in range(1, 9) for arm in ("control", "house")
    ]
    assert [r["error"]["code"] for r in records[4:6]] == ["invalid_json", "invalid_json"]
    assert [r["error"]["param"] for r in records[10:12]] == ["profile.age", "profile.age"]
    control = records[0]
    assert control["template"] == {"ref": "google_search@1", "name": "google_search", "version": 1}
    assert control["adapter"] is None and control["seed"] == 1
    assert control["sampling"] == {"n": 3, "k": 2, "temperature": 0.8, "top_p": 0.95}
    assert [v["score"]["rank"] for v in control["variants"]] == [1, 2]
    assert {"valid_first_try", "repaired", "repairs"} <= control["variants"][0].keys()
    assert control["usage"]["completion_tokens"] > 0 and "timings" not in control
    house = records[1]
    assert house["adapter"] == "house" and len(house["variants"]) == 1
    # house pins google_search@1: rows of other placements get an error record, not a silent drop
    assert records[3]["error"]["code"] == "template_mismatch"
    assert 1 < engine.max_in_flight <= 5
    assert max(len(call) for call in embedder.calls) > 6  # several requests' candidates per encode call
    assert summary["records"] == 16 and summary["rows"] == 8
    assert summary["errors"] == 4 + 4  # 2 bad rows × 2 arms; house on the 4 good non-google rows
    assert summary["valid_first_try_rate"] == 1.0
    assert not job.journal.partial_path.exists()
    assert json.loads(job.journal.manifest_path.read_text())["status"] == "complete"


class CrashingProcessor(UnitProcessor):
    """Dies (like the engine dying) at one row × arm; everything else runs normally."""

    crash_at: tuple[int, str] = (0, "")

    async def process(self, row: int, text: str, arm: Any) -> dict[str, Any]:
        if (row, arm.name) == self.crash_at:
            raise BatchAbortedError("boom")
        return await super().process(row, text, arm)


async def test_rerun_after_a_crash_finishes_the_rest_exactly_once(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    rows = [{**sample_request, "seed": i} for i in range(12)]
    job = make_job(tmp_path, rows)
    first_engine = FakeEngine(placement_copy, delay=0.005)
    crashing = CrashingProcessor(processor(first_engine).writer)
    crashing.crash_at = (7, "house")
    with pytest.raises(BatchAbortedError):
        await run_units(job, crashing, concurrency=3, progress=False)
    job.journal.release()  # the crashed process is gone, and the OS with it drops its lock
    done_before = job.journal.recover()
    assert 0 < len(done_before) < 24 and (7, "house") not in done_before
    with job.journal.partial_path.open("ab") as handle:  # and the process was killed mid-write
        handle.write(b'{"row": 9, "arm": "con')

    again = make_job(tmp_path, rows)  # the same command, run again
    assert again.done == done_before
    second_engine = FakeEngine(placement_copy)
    written = await run_units(again, processor(second_engine), concurrency=3, progress=False)
    summary = finish(again, RunTimes(units_run=written, seconds=1.0))

    assert written == 24 - len(done_before) == len(second_engine.calls)
    keys = [(r["row"], r["arm"]) for r in read_jsonl(again.output_path)]
    assert keys == [(row, arm) for row in range(1, 13) for arm in ("control", "house")]
    assert summary["resumed_records"] == len(done_before)
    assert summary["errors"] == 0


def test_a_changed_input_is_refused_and_restart_starts_over(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    from creative.batch.runner import prepare_job
    from creative.settings import Settings
    from prompts.store import TemplateStore
    from tests.unit.creative.batch.support import registry

    job = make_job(tmp_path, rows_of(sample_request, 2))
    job.journal.append({"row": 1, "arm": "control"})
    job.journal.close()
    job.journal.release()
    with pytest.raises(ResumeError, match="input file changed"):
        make_job(tmp_path, rows_of(sample_request, 3))
    restarted = prepare_job(
        tmp_path / "rows.jsonl",
        tmp_path / "arms.yaml",
        tmp_path / "out.jsonl",
        Settings(),
        TemplateStore.from_directory,
        registry(),
        restart=True,
    )
    assert restarted.done == set() and restarted.rows == 3


async def test_resume_keeps_the_template_versions_pinned_at_start(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    job = make_job(tmp_path, rows_of(sample_request, 2))
    manifest = json.loads(job.journal.manifest_path.read_text())
    manifest["arms"][0]["templates"]["google_search"] = "google_search@7"  # what the label meant back then
    job.journal.manifest_path.write_text(json.dumps(manifest))
    job.journal.release()
    again = make_job(tmp_path, rows_of(sample_request, 2))
    assert again.plan.arms[0].templates["google_search"] == "google_search@7"


async def test_parquet_in_and_out(tmp_path: Path, sample_request: dict[str, Any]) -> None:
    import pyarrow as pa

    rows = rows_of(sample_request, 3)
    rows[1]["profile"].pop("location")  # a null in the struct column means "not given"
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "rows.parquet")
    from creative.batch.runner import prepare_job
    from creative.settings import Settings
    from prompts.store import TemplateStore
    from tests.unit.creative.batch.support import ARMS_YAML, registry

    (tmp_path / "arms.yaml").write_text(ARMS_YAML)
    job = prepare_job(
        tmp_path / "rows.parquet",
        tmp_path / "arms.yaml",
        tmp_path / "out.parquet",
        Settings(),
        TemplateStore.from_directory,
        registry(),
    )
    written = await run_units(job, processor(FakeEngine(placement_copy)), concurrency=4, progress=False)
    finish(job, RunTimes(units_run=written))
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("row").to_pylist() == [1, 1, 2, 2, 3, 3]
    assert out.column("arm").to_pylist() == ["control", "house"] * 3
    records = list(read_records(tmp_path / "out.parquet"))
    assert "error" not in records[2] and records[3]["error"]["code"] == "template_mismatch"


async def test_a_crash_after_the_output_is_written_leaves_nothing_to_redo(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    job = make_job(tmp_path, rows_of(sample_request, 3))
    engine = FakeEngine(placement_copy)
    await run_units(job, processor(engine), concurrency=3, progress=False)
    job.journal.finalize(job.plan.names)  # killed here: output written, manifest still "running"
    job.journal.release()
    calls = len(engine.calls)
    again = make_job(tmp_path, rows_of(sample_request, 3))
    assert len(again.done) == again.units_total == 6
    written = await run_units(again, processor(engine), concurrency=3, progress=False)
    finish(again, RunTimes(units_run=written, seconds=1.0))
    assert written == 0 and len(engine.calls) == calls
    assert len(read_jsonl(again.output_path)) == 6
    assert not again.journal.partial_path.exists()


async def test_records_carry_the_sampling_the_writer_used(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    from creative.batch.work import UnitProcessor
    from creative.settings import Settings
    from creative.writer import CreativeWriter
    from prompts.store import TemplateStore
    from prompts.template import SamplingDefaults
    from tests.unit.creative.batch.support import registry

    arms = "arms:\n  - name: plain\n    adapter: null\n    n: 2\n    k: 1\n    seed: 1\n"
    job = make_job(tmp_path, rows_of(sample_request, 1), arms=arms)
    shipped = TemplateStore.from_directory()
    cooler = shipped.resolve("google_search@1").model_copy(
        update={"sampling": SamplingDefaults(temperature=0.3)}
    )
    templates = TemplateStore([cooler, *(t for t in shipped.all() if t.name != "google_search")])
    engine = FakeEngine(placement_copy)
    writer = CreativeWriter(engine, Settings(), templates, registry())
    await run_units(job, UnitProcessor(writer, None), concurrency=1, progress=False)
    finish(job, RunTimes(units_run=1, seconds=1.0))
    (record,) = read_jsonl(job.output_path)
    assert engine.calls[0].temperature == 0.3
    assert record["sampling"]["temperature"] == 0.3  # the template version's default, not the settings'


def test_a_run_started_with_another_model_is_refused(tmp_path: Path, sample_request: dict[str, Any]) -> None:
    job = make_job(tmp_path, rows_of(sample_request, 1))
    manifest = json.loads(job.journal.manifest_path.read_text())
    manifest["model"] = "qwen-7b"
    job.journal.manifest_path.write_text(json.dumps(manifest))
    job.journal.release()
    with pytest.raises(ResumeError, match="started with model 'qwen-7b'"):
        make_job(tmp_path, rows_of(sample_request, 1))


def test_resuming_a_ranked_run_without_ranking_is_refused(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    from creative.batch.runner import prepare_job
    from creative.settings import Settings
    from prompts.store import TemplateStore
    from tests.unit.creative.batch.support import registry

    make_job(tmp_path, rows_of(sample_request, 1)).journal.release()
    with pytest.raises(ResumeError, match="started ranked"):
        prepare_job(
            tmp_path / "rows.jsonl",
            tmp_path / "arms.yaml",
            tmp_path / "out.jsonl",
            Settings(),
            TemplateStore.from_directory,
            registry(),
            rank=False,
        )
