"""The benchmark table in ``docs/benchmarks.md``, generated from ``bench/results/*.json``.

Rewrites the text between the ``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->`` markers
with one row per figure (name, value, goal, whether it is met, machine, dtype, LoRA kernel, settings,
command), so the document never drifts from the results. Results written before the common header
(``bench/common.py``) are listed as needing a re-run. ``--check`` exits 1 when the document is stale.

    .venv/bin/python bench/table.py [--check] [--results DIR] [--print]
"""

from __future__ import annotations

import argparse
import json
import operator
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
COLUMNS = (
    "benchmark",
    "figure",
    "value",
    "goal",
    "met",
    "machine",
    "dtype",
    "LoRA kernel",
    "settings",
    "command",
)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
GOAL = re.compile(r"^\s*(>=|<=|>|<|==)?\s*(-?[0-9.]+)\s*$")


def goal_met(value: float | None, goal: str) -> str:
    """``yes`` / ``no`` for a goal like ``>= 0.9`` (a bare number means equal), ``""`` without one."""
    match = GOAL.match(goal or "")
    if match is None or value is None:
        return ""
    compare = OPERATORS[match.group(1) or "=="]
    return "yes" if compare(float(value), float(match.group(2))) else "**no**"


def machine(header: dict[str, Any]) -> str:
    """``AMD EPYC, 2 cores, AVX-512 BF16`` from the header's machine block."""
    info = header.get("machine", {})
    flags = info.get("flags", {})
    simd = "AMX" if flags.get("amx_tile") else "AVX-512 BF16" if flags.get("avx512_bf16") else None
    simd = simd or ("AVX-512" if flags.get("avx512f") else "AVX2" if flags.get("avx2") else "no AVX2")
    return f"{info.get('cpu', '?')}, {info.get('cores_usable', '?')} cores, {simd}"


def compact(settings: dict[str, Any]) -> str:
    """The script's arguments as ``key=value`` pairs (the full settings stay in the JSON)."""
    args = settings.get("args", {})
    pairs = [f"{k}={v}" for k, v in args.items() if v not in (None, False, [], "")]
    return " ".join(pairs).replace("|", "\\|")


def cell(value: Any) -> str:
    """A table cell: numbers as given, None as a dash, pipes escaped."""
    if value is None or value == "":
        return "—"
    return str(value).replace("|", "\\|")


def rows_for(path: Path) -> list[str]:
    """Table rows for one results file."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "figures" not in data or "header" not in data:
        script = ROOT / "bench" / f"bench_{path.stem}.py"
        if not script.is_file():  # e.g. a batch run's summary kept next to the results: not a figure
            return []
        label = "older results: re-run" if "write_result" in script.read_text() else "own format"
        return own_format_rows(path.stem, data, f"`python bench/{script.name}`", label)
    header = data["header"]
    rows = []
    for figure in data["figures"]:
        value = figure.get("value")
        shown = (
            f"{value} {figure.get('unit', '')}".strip()
            if figure.get("unit") not in ("ratio", None)
            else value
        )
        cells = [
            data.get("benchmark", path.stem),
            figure["name"],
            cell(shown),
            cell(figure.get("goal")),
            cell(goal_met(value, figure.get("goal", ""))),
            machine(header),
            cell(figure.get("dtype") or header.get("engine_dtype")),
            cell(figure.get("lora_kernel") or header.get("lora_kernel")),
            cell(compact(header.get("settings", {}))),
            f"`{header.get('command', '')}`",
        ]
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    return rows


def own_format_rows(name: str, data: Any, command: str, label: str) -> list[str]:
    """A file without the common header (older results, or a script that writes its own format): its
    top-level numbers, marked, so nothing is hidden; re-run it through ``common.write_result`` for more."""
    numbers = {k: v for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}
    if not numbers:
        return [f"| {name} | ({label}: see bench/results/{name}.json) |" + " — |" * 7 + f" {command} |"]
    return [
        f"| {name} | {key} ({label}) | {value} |" + " — |" * 6 + f" {command} |"
        for key, value in numbers.items()
    ]


def table(results: Path = RESULTS) -> str:
    """The whole table, one row per figure of every results file (sorted by file name)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for path in sorted(results.glob("*.json")):
        try:
            lines += rows_for(path)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            lines.append(
                f"| {path.stem} | (unreadable: {type(exc).__name__}) |" + " — |" * (len(COLUMNS) - 2)
            )
    return "\n".join(lines)


def render(document: str, results: Path = RESULTS) -> str:
    """``document`` with the table between the markers replaced."""
    if START not in document or END not in document:
        raise SystemExit(f"{DOC} has no {START} ... {END} markers")
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(results)}\n{END}{tail}"


def main() -> None:
    """Rewrite the table (or, with ``--check``, only say whether it is current)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/benchmarks.md is stale")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of results JSON files")
    parser.add_argument("--print", action="store_true", help="print the table instead of writing the doc")
    args = parser.parse_args()
    if args.print:
        print(table(args.results))
        return
    current = DOC.read_text()
    updated = render(current, args.results)
    if args.check:
        if updated != current:
            print(f"{DOC.relative_to(ROOT)} is stale: run python bench/table.py", file=sys.stderr)
            raise SystemExit(1)
        return
    if updated != current:
        DOC.write_text(updated)
    print(f"{DOC.relative_to(ROOT)}: {table(args.results).count(chr(10)) - 1} rows")


if __name__ == "__main__":
    main()
