"""``python -m creative generate`` end to end: a subprocess, its own engine, a bad row in the middle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.paths import SOURCE_ROOT

pytestmark = pytest.mark.integration


def test_cli_writes_one_record_per_row_in_order(tmp_path: Path, sample_request: dict[str, Any]) -> None:
    rows = [
        json.dumps({**sample_request, "n": 2, "k": 1, "seed": 1}),
        '{"profile": {"id": "u2"}, "product": {"name": "X"}, "placement": "radio"}',
        "not json at all",
        json.dumps({**sample_request, "placement": "email", "n": 2, "k": 1, "seed": 2}),
    ]
    source, target = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(rows) + "\n")
    env = {**os.environ, "ADCREATIVE_MAX_MODEL_LEN": "1024", "ADCREATIVE_KV_CACHE_BYTES": str(128 << 20)}
    completed = subprocess.run(
        [sys.executable, "-m", "creative", "generate", "--input", str(source), "--output", str(target)],
        cwd=SOURCE_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["row"] for r in records] == [1, 2, 3, 4]
    assert records[1]["error"]["param"] == "placement"
    assert records[2]["error"]["code"] == "invalid_json"
    for record in (records[0], records[3]):
        assert "error" not in record
        assert record["variants"], record["rejected"]
        assert record["ranked"] is True and len(record["variants"]) <= record["k"] == 1
        for variant in record["variants"]:
            assert variant["score"]["rank"] == 1
            assert {"fields", "valid_first_try", "repaired", "repairs", "attempt", "seed"} <= variant.keys()
    summary_line = next(line for line in completed.stderr.splitlines() if line.startswith('{"summary"'))
    summary = json.loads(summary_line)["summary"]
    assert summary["rows"] == 4 and summary["errors"] == 2
    assert "row/s" in completed.stderr or "row]" in completed.stderr  # the tqdm progress bar
