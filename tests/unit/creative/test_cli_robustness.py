"""``creative generate`` never stops on one bad row and never destroys its input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.schema import ErrorInfo
from creative.cli import generate_file, main
from creative.rows import parse_row, parse_row_object
from creative.settings import Settings
from creative.writer import CreativeWriter
from tests.fakes import FakeEngine, forbid_engine_start, json_copy

GOOD = json_copy(headline="Trail shoes that stay dry", description="Peak TrailRunner X keeps feet dry.")
DEEP = "[" * 1000 + "]" * 1000


def test_a_deeply_nested_row_is_an_error_not_a_recursion_error(sample_request: dict[str, Any]) -> None:
    for line in ("[" * 1000, "[" * 100_000, DEEP, '{"profile": ' + "[" * 5000 + "]" * 5000 + "}"):
        parsed = parse_row_object(line)
        assert isinstance(parsed, ErrorInfo) and parsed.code == "invalid_json", line[:20]
    nested = json.dumps({**sample_request, "product": {"name": json.loads("[" * 900 + "]" * 900)}})
    assert isinstance(parse_row(nested), ErrorInfo)


async def test_deep_and_undecodable_rows_become_error_records_and_the_run_goes_on(
    tmp_path: Path, sample_request: dict[str, Any]
) -> None:
    good = json.dumps(dict(sample_request, n=1, k=1)).encode()
    bad_utf8 = (
        json.dumps(sample_request).replace("Denver", "Den\\u00e9ver").encode().replace(b"\\u00e9", b"\xff")
    )
    source, target = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(b"\n".join([good, DEEP.encode(), bad_utf8, b"[" * 100_000, good]) + b"\n")
    engine = FakeEngine(lambda spec, call: [GOOD] * spec.n)
    summary = await generate_file(source, target, CreativeWriter(engine, Settings()).write, 2, progress=False)
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5]
    assert [r.get("error", {}).get("code") for r in records] == [
        None,
        "invalid_json",
        "invalid_utf8",
        "invalid_json",
        None,
    ]
    assert "UTF-8" in records[2]["error"]["message"]
    assert summary.rows == 5 and summary.errors == 3


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink", "hardlink"])
def test_generate_refuses_an_output_that_is_its_input(
    tmp_path: Path,
    sample_request: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    forbid_engine_start(monkeypatch)
    source = tmp_path / "rows.jsonl"
    source.write_text(json.dumps(sample_request) + "\n")
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    output = {
        "same path": source,
        "relative path": Path("./sub/../rows.jsonl"),
        "symlink": tmp_path / "link.jsonl",
    }
    output["hardlink"] = tmp_path / "hard.jsonl"
    (tmp_path / "sub").mkdir()
    os.symlink(source, tmp_path / "link.jsonl")
    os.link(source, tmp_path / "hard.jsonl")
    code = main(["generate", "--input", str(source), "--output", str(output[how]), "--no-rank", "--quiet"])
    assert code == 2
    assert "same file" in capsys.readouterr().err
    assert source.read_bytes() == before
