"""The batch never stops on one bad row, never destroys its input, and knows what "complete" means."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from creative.batch.io import write_output
from creative.batch.journal import ResumeError, RunJournal
from creative.batch.runner import RunTimes, finish, prepare_job, run_units
from creative.batch.work import UnitProcessor
from creative.cli import main
from creative.settings import Settings
from prompts.store import TemplateStore
from tests.fakes import FakeEngine, forbid_engine_start
from tests.unit.creative.batch.support import (
    ARMS_YAML,
    make_job,
    placement_copy,
    processor,
    read_jsonl,
    registry,
)

DEEP = b"[" * 1000 + b"]" * 1000


def raw_job(tmp_path: Path, lines: list[bytes]) -> Any:
    """A prepared job over raw input lines (bytes, so they may be anything)."""
    source = tmp_path / "rows.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    arms = tmp_path / "arms.yaml"
    arms.write_text(ARMS_YAML)
    return prepare_job(
        source, arms, tmp_path / "out.jsonl", Settings(), TemplateStore.from_directory, registry()
    )


async def test_deep_and_undecodable_rows_are_error_records_and_the_batch_goes_on(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    good = json.dumps(sample_request).encode()
    bad_utf8 = good.replace(b"Denver", b"Den\xffver")
    job = raw_job(tmp_path, [good, DEEP, b"[" * 100_000, bad_utf8, good])
    written = await run_units(job, processor(FakeEngine(placement_copy)), concurrency=3, progress=False)
    finish(job, RunTimes(units_run=written, seconds=1.0))
    records = read_jsonl(job.output_path)
    codes = [(r["row"], r.get("error", {}).get("code")) for r in records if r["arm"] == "control"]
    assert codes == [(1, None), (2, "invalid_json"), (3, "invalid_json"), (4, "invalid_utf8"), (5, None)]
    job.journal.release()
    assert raw_job(tmp_path, [good, DEEP, b"[" * 100_000, bad_utf8, good]).complete  # and a rerun is a no-op


@pytest.mark.parametrize("how", ["same path", "symlink", "hardlink", "arms file"])
def test_batch_refuses_an_output_that_would_write_over_its_input(
    tmp_path: Path,
    sample_request: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    forbid_engine_start(monkeypatch)
    source = tmp_path / "rows.jsonl"
    source.write_text(json.dumps(sample_request) + "\n")
    arms = tmp_path / "arms.json"  # JSON is YAML
    arms.write_text('{"arms": [{"name": "a", "adapter": null}]}')
    os.symlink(source, tmp_path / "link.jsonl")
    os.link(source, tmp_path / "hard.jsonl")
    output = {
        "same path": source,
        "symlink": tmp_path / "link.jsonl",
        "hardlink": tmp_path / "hard.jsonl",
        "arms file": arms,
    }[how]
    before = (source.read_bytes(), arms.read_bytes())
    code = main(["batch", "--input", str(source), "--arms", str(arms), "--output", str(output), "--quiet"])
    assert code == 2 and "same file" in capsys.readouterr().err
    assert (source.read_bytes(), arms.read_bytes()) == before
    assert not (tmp_path / f"{output.name}.manifest.json").exists()


def _record_renames_and_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    real_replace, real_rename, real_fsync = os.replace, os.rename, os.fsync

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        real_replace(src, dst, *args, **kwargs)
        events.append(("rename", str(Path(dst).resolve().parent)))

    def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        real_rename(src, dst, *args, **kwargs)
        events.append(("rename", str(Path(dst).resolve().parent)))

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            events.append(("fsync dir", os.readlink(f"/proc/self/fd/{fd}")))

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "fsync", fsync)
    return events


def _each_rename_is_followed_by_its_directory_fsync(events: list[tuple[str, str]]) -> None:
    renames = [i for i, (kind, _) in enumerate(events) if kind == "rename"]
    assert renames, events
    for i in renames:
        assert ("fsync dir", events[i][1]) in events[i + 1 :], events


async def test_every_rename_is_followed_by_a_directory_fsync(
    tmp_path: Path, sample_request: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _record_renames_and_fsyncs(monkeypatch)
    write_output(['{"row": 1, "arm": "a"}'], tmp_path / "a.jsonl")
    write_output(['{"row": 1, "arm": "a"}'], tmp_path / "a.parquet")
    RunJournal(tmp_path / "b.jsonl").write_manifest({"status": "running"})
    _each_rename_is_followed_by_its_directory_fsync(events)

    events.clear()
    from creative.cli import generate_file
    from creative.writer import CreativeWriter

    source = tmp_path / "rows.jsonl"
    source.write_text(json.dumps(sample_request) + "\n")
    writer = CreativeWriter(FakeEngine(placement_copy), Settings())
    await generate_file(source, tmp_path / "out.jsonl", writer.write, 1, progress=False)
    _each_rename_is_followed_by_its_directory_fsync(events)


async def test_the_manifest_records_the_output_hash_and_a_changed_output_is_reported(
    tmp_path: Path, sample_request: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{**sample_request, "seed": i} for i in range(2)]
    job = make_job(tmp_path, rows)
    written = await run_units(job, processor(FakeEngine(placement_copy)), concurrency=2, progress=False)
    finish(job, RunTimes(units_run=written, seconds=1.0))
    manifest = json.loads(job.journal.manifest_path.read_text())
    data = job.output_path.read_bytes()
    assert manifest["output_file"] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert make_job(tmp_path, rows).complete  # the file is the one the run wrote: nothing to do

    job.output_path.write_bytes(data.replace(b'"row": 2', b'"row": 3'))  # edited (or torn) since
    with pytest.raises(ResumeError, match="changed since the run completed"):
        make_job(tmp_path, rows)
    assert main(["report", str(job.output_path), "--no-embed", "--chart", str(tmp_path / "c.png")]) == 0
    assert "differs from the output the batch wrote" in capsys.readouterr().err
    job.output_path.unlink()
    with pytest.raises(ResumeError, match="missing"):
        make_job(tmp_path, rows)


class FlakyOnce(UnitProcessor):
    """Its engine hiccups (an unexpected exception, engine still healthy) on some rows, once."""

    flaky_rows: frozenset[int] = frozenset()

    async def process(self, row: int, text: str, arm: Any) -> dict[str, Any]:
        if row in self.flaky_rows:
            self.flaky_rows = self.flaky_rows - {row}
            real = self.writer.write

            async def hiccup(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("transient")

            self.writer.write = hiccup  # type: ignore[method-assign]
            try:
                return await super().process(row, text, arm)
            finally:
                self.writer.write = real  # type: ignore[method-assign]
        return await super().process(row, text, arm)


async def test_a_transient_internal_failure_is_retried_on_resume(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    rows = [{**sample_request, "seed": i} for i in range(4)]
    job = make_job(tmp_path, rows)
    engine = FakeEngine(placement_copy)
    flaky = FlakyOnce(processor(engine).writer)
    flaky.flaky_rows = frozenset({3})
    written = await run_units(job, flaky, concurrency=1, progress=False)
    summary = finish(job, RunTimes(units_run=written, seconds=1.0))
    assert summary["error_codes"] == {"internal": 1} and summary["retryable_errors"] == 1
    assert not job.complete and job.journal.partial_path.exists()  # not complete: a rerun retries it
    assert json.loads(job.journal.manifest_path.read_text())["status"] == "incomplete"

    again = make_job(tmp_path, rows)
    assert not again.complete and again.units_total - len(again.done) == 1
    calls = len(engine.calls)
    written = await run_units(again, processor(engine), concurrency=1, progress=False)
    summary = finish(again, RunTimes(units_run=written, seconds=1.0))
    assert written == 1 and len(engine.calls) > calls
    records = read_jsonl(again.output_path)
    assert len(records) == 8 and not any("error" in r for r in records)  # each row × arm once, the retry won
    assert again.complete and summary["errors"] == 0 and not again.journal.partial_path.exists()


def test_ray_workers_get_only_the_variables_they_need(monkeypatch: pytest.MonkeyPatch) -> None:
    from creative.batch.ray_runner import forwarded_env

    wanted = {
        "ADCREATIVE_MAX_NUM_SEQS": "8",
        "ADCREATIVE_MODEL_PATH": "/models/x",
        "ADCREATIVE_EMBEDDER_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": "/cache/hf",
        "TOKENIZERS_PARALLELISM": "false",
        "VLLM_CPU_KVCACHE_SPACE": "4",
    }
    secrets = {
        "ADCREATIVE_TEMPLATES_DB_URL": "postgresql://app:hunter2@db/adcreative",
        "ADCREATIVE_API_KEYS": '[{"name": "x", "sha256": "..."}]',
        "ADCREATIVE_API_KEYS_FILE": "/etc/keys.json",
        "HF_TOKEN": "hf_secret",
        "HUGGING_FACE_HUB_TOKEN": "hf_secret",
        "VLLM_API_KEY": "secret",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    for name, value in {**wanted, **secrets}.items():
        monkeypatch.setenv(name, value)
    forwarded = forwarded_env()
    assert {k: forwarded.get(k) for k in wanted} == wanted
    assert not set(secrets) & set(forwarded)
    assert forwarded_env(["HF_TOKEN"])["HF_TOKEN"] == "hf_secret"  # only when asked for by name
