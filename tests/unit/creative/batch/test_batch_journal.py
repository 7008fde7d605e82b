from __future__ import annotations

import json
from pathlib import Path

import pytest

from creative.batch.journal import Fingerprint, ResumeError, RunJournal


def record(row: int, arm: str) -> dict[str, object]:
    return {"row": row, "arm": arm, "variants": []}


def test_a_torn_last_line_is_truncated_and_not_counted(tmp_path: Path) -> None:
    journal = RunJournal(tmp_path / "out.jsonl")
    for row, arm in [(2, "b"), (1, "a"), (1, "b")]:
        journal.append(record(row, arm))
    journal.close()
    whole = journal.partial_path.stat().st_size
    with journal.partial_path.open("ab") as handle:  # kill -9 in the middle of a write
        handle.write(b'{"row": 2, "arm": "a", "vari')
    assert journal.recover() == {(2, "b"), (1, "a"), (1, "b")}
    assert journal.partial_path.stat().st_size == whole
    journal.append(record(2, "a"))  # appending after recovery starts on a fresh line
    journal.close()
    assert journal.recover() == {(2, "b"), (1, "a"), (1, "b"), (2, "a")}


def test_an_unreadable_line_ends_the_trusted_part(tmp_path: Path) -> None:
    journal = RunJournal(tmp_path / "out.jsonl")
    journal.partial_path.write_text(
        json.dumps(record(1, "a")) + "\n" + "garbage\n" + json.dumps(record(2, "a")) + "\n"
    )
    assert journal.recover() == {(1, "a")}
    assert journal.partial_path.read_text() == json.dumps(record(1, "a")) + "\n"


def test_finalize_sorts_by_row_then_arm_order_and_keeps_each_key_once(tmp_path: Path) -> None:
    journal = RunJournal(tmp_path / "out.jsonl")
    for seq, (row, arm) in enumerate([(10, "a"), (2, "b"), (2, "a"), (10, "b"), (2, "b")]):
        journal.append({**record(row, arm), "seq": seq})
    assert journal.finalize(["b", "a"]) == 4
    lines = [json.loads(line) for line in journal.output.read_text().splitlines()]
    assert [(r["row"], r["arm"]) for r in lines] == [(2, "b"), (2, "a"), (10, "b"), (10, "a")]
    assert lines[0]["seq"] == 1  # the first record of a key wins
    assert journal.partial_path.exists()  # kept until the manifest says complete
    journal.discard_progress()
    assert not journal.partial_path.exists()


def test_a_changed_input_or_arms_file_refuses_to_resume(tmp_path: Path) -> None:
    journal = RunJournal(tmp_path / "out.jsonl")
    journal.write_manifest({"input": {"size": 10, "sha256": "aa"}, "arms_file": {"sha256": "bb"}})
    manifest = journal.read_manifest()
    assert manifest is not None
    journal.check_same_run(manifest, Fingerprint(10, "aa"), "bb")
    with pytest.raises(ResumeError, match=r"input file changed.*--restart"):
        journal.check_same_run(manifest, Fingerprint(11, "aa"), "bb")
    with pytest.raises(ResumeError, match="arms file changed"):
        journal.check_same_run(manifest, Fingerprint(10, "aa"), "cc")


def test_only_one_run_writes_an_output_at_a_time(tmp_path: Path) -> None:
    first, second = RunJournal(tmp_path / "out.jsonl"), RunJournal(tmp_path / "out.jsonl")
    first.acquire()
    with pytest.raises(ResumeError, match=r"another run \(pid \d+\) is writing"):
        second.acquire()
    first.release()
    second.acquire()  # free again once the first run is done (or dead: the OS drops the lock)
    second.release()
