from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.paths import SOURCE_ROOT
from creative.cli import main
from tests.unit.creative.batch.support import write_rows


def test_an_invalid_arms_file_lists_every_problem_and_runs_nothing(
    tmp_path: Path, sample_request: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [sample_request])
    arms = tmp_path / "arms.yaml"
    arms.write_text("arms:\n  - name: a\n    top_p: 0\n  - name: b\n    n: 1\n    k: 3\n    seeds: 4\n")
    code = main(["batch", "--input", str(rows), "--arms", str(arms), "--output", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert code == 2
    assert "invalid arms file; nothing was run" in err
    assert "arm #1 ('a'): top_p:" in err and "arm #2 ('b'): seeds:" in err and "k=3 cannot exceed n=1" in err
    assert not list(tmp_path.glob("o.jsonl*"))  # no manifest, no progress file


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--input", "missing.jsonl"], "input file"),
        (["--output", "out.csv"], "unsupported extension .csv"),
    ],
)
def test_bad_paths_are_refused_before_any_work(
    tmp_path: Path,
    sample_request: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    write_rows(tmp_path / "rows.jsonl", [sample_request])
    (tmp_path / "arms.yaml").write_text("arms:\n  - name: a\n    adapter: null\n")
    given = {"--input": "rows.jsonl", "--arms": "arms.yaml", "--output": "out.jsonl"}
    given.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["batch"] + [x for flag, name in given.items() for x in (flag, str(tmp_path / name))]
    assert main(argv) == 2
    assert expected in capsys.readouterr().err


def test_the_batch_modules_do_not_import_ranking() -> None:
    code = (
        "import sys, creative.cli, creative.batch.cli, creative.batch.runner, creative.batch.report, "
        "creative.batch.ray_runner; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'ranking'], 'ranking imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=SOURCE_ROOT)
