"""The benchmark results helper and the table generated from its files (no engine, no timing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))  # the scripts import each other by module name, as when run

import common  # noqa: E402
import table  # noqa: E402


def test_write_result_carries_the_common_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = common.write_result(
        "demo",
        [common.Figure("a ÷ b", 0.95, goal=">= 0.9"), common.Figure("tok/s", 12.5, "tok/s")],
        {"raw": [1, 2]},
        dtype="float32",
        kernel="grouped",
        settings={"args": {"requests": 2}},
        output=tmp_path / "demo.json",
    )
    data = json.loads(path.read_text())
    header = data["header"]
    assert data["benchmark"] == "demo" and data["details"] == {"raw": [1, 2]}
    assert {
        "machine",
        "versions",
        "engine_dtype",
        "omp_bind",
        "lora_kernel",
        "settings",
        "command",
        "utc",
    } <= set(header)
    assert header["machine"]["cores_usable"] >= 1 and "avx512_bf16" in header["machine"]["flags"]
    assert header["versions"]["python"] and "torch" in header["versions"]
    assert header["engine_dtype"] == "float32" and header["lora_kernel"] == "grouped"
    assert header["command"].startswith("python ")
    assert data["figures"][0] == {
        "name": "a ÷ b",
        "value": 0.95,
        "unit": "ratio",
        "goal": ">= 0.9",
        "dtype": None,
        "lora_kernel": None,
    }
    assert '"benchmark": "demo"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("value", "goal", "met"),
    [
        (0.95, ">= 0.9", "yes"),
        (0.85, ">= 0.9", "**no**"),
        (3.9, "<= 4", "yes"),
        (0, "0", "yes"),
        (2, "0", "**no**"),
        (None, ">= 2", ""),
        (1.0, "", ""),
        (1.0, "fast", ""),
    ],
)
def test_goal_met(value: float | None, goal: str, met: str) -> None:
    assert table.goal_met(value, goal) == met


def test_table_lists_every_figure_and_marks_other_formats(tmp_path: Path) -> None:
    common.write_result(
        "adapters",
        [common.Figure("house ÷ base", 0.5, goal=">= 0.9"), common.Figure("stock", 0.3, lora_kernel="stock")],
        {},
        dtype="bfloat16",
        kernel="grouped",
        settings={"args": {"requests": 16, "no_stock": False}},
        output=tmp_path / "adapters.json",
    )
    (tmp_path / "rank.json").write_text(json.dumps({"variants": 147, "machine": {"cpu": "x"}}))
    (tmp_path / "batch_200x3_summary.json").write_text(json.dumps({"rows": 200}))  # not a bench script's
    rows = table.table(tmp_path).splitlines()
    assert rows[0].startswith("| benchmark | figure | value | goal | met |")
    body = "\n".join(rows[2:])
    assert "| adapters | house ÷ base | 0.5 | >= 0.9 | **no** |" in body
    assert "| bfloat16 | grouped | requests=16 |" in body
    assert "| bfloat16 | stock |" in body  # a figure's own kernel wins over the header's
    assert "| rank | variants (older results: re-run) | 147 |" in body
    assert "batch_200x3_summary" not in body


def test_render_replaces_only_between_the_markers(tmp_path: Path) -> None:
    document = f"intro\n{table.START}\nold table\n{table.END}\noutro\n"
    rendered = table.render(document, tmp_path)
    assert rendered.startswith("intro\n" + table.START + "\n| benchmark |")
    assert rendered.endswith(table.END + "\noutro\n") and "old table" not in rendered
    with pytest.raises(SystemExit, match="markers"):
        table.render("no markers here", tmp_path)
