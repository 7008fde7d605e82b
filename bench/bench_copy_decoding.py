"""The copy logits processor's steps on vs off, side by side: names finished, only the facts' numbers and
fields closed while decoding (``ADCREATIVE_EXACT_NAMES``, ``ADCREATIVE_FAITHFUL_NUMBERS``,
``ADCREATIVE_FIT_WORDS``) vs repaired or rejected afterwards only.

Writes every test row (``--n`` seeded candidates, one round, the way the evaluation counts them) once per
mode (a fresh engine each) and reports valid first try, candidates rejected for a number the facts do not
hold, the share of candidates whose product or brand name was misspelled as generated (before repair), the
repairs made, seconds for all rows at once and the p50 of ``--latency-requests`` lone requests (the
processor's cost).

    .venv/bin/python bench/bench_copy_decoding.py --adapter house --n 8
    .venv/bin/python bench/bench_copy_decoding.py --adapter playful --modes off,fit,fit_numbers
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import Figure, engine_settings, run_settings, write_result  # noqa: E402

from creative.adapters import registry_from_settings  # noqa: E402
from creative.engine import VllmEngine  # noqa: E402
from creative.settings import Settings  # noqa: E402
from creative.training.data import validate_files  # noqa: E402
from creative.training.evaluate import misspelled_name_candidates, requests_for  # noqa: E402
from creative.writer import CreativeWriter  # noqa: E402
from ranking.metrics import NAME_REPAIR_MARKER, faithfulness_violations  # noqa: E402

# mode -> (exact_names, faithful_numbers, fit_words); "fit_numbers" is what ships (names are opt-in)
MODES = {
    "off": (False, False, False),
    "fit": (False, False, True),
    "fit_numbers": (False, True, True),
    "all": (True, True, True),
}
SHIPPED_MODE = "fit_numbers"


def _rounded(rate: float | None) -> float | None:
    """A rate to 4 places; None (no candidates in that mode) stays None."""
    return None if rate is None else round(rate, 4)


async def measure(writer: CreativeWriter, rows: list[Any], n: int, lone: int) -> dict[str, Any]:
    """All rows at once, then ``lone`` requests one at a time."""
    requests = requests_for(rows, n)
    started = time.perf_counter()
    results = await asyncio.gather(*(writer.write(r, f"names-{i}") for i, r in enumerate(requests)))
    batch_s = time.perf_counter() - started
    candidates = sum(r.stats.returned + r.stats.rejected for r in results)
    misspelled = misspelled_name_candidates(requests, list(results))
    repairs = Counter(
        _kind(repair) for result in results for variant in result.variants for repair in variant.repairs
    )
    latencies = []
    for i, request in enumerate(requests[:lone]):
        started = time.perf_counter()
        await writer.write(request.model_copy(update={"seed": 50_000 + i}), f"lone-{i}")
        latencies.append(time.perf_counter() - started)
    return {
        "candidates": candidates,
        "unfaithful": faithfulness_violations(list(results)),
        "name_misspelled": misspelled,
        "name_misspelled_rate": misspelled / candidates if candidates else None,
        "valid_first_try_rate": sum(r.stats.valid_first_try for r in results) / candidates
        if candidates
        else None,
        "batch_seconds": batch_s,
        "lone_request_p50_s": statistics.median(latencies) if latencies else None,
        "repairs": dict(repairs.most_common()),
    }


def _kind(repair: str) -> str:
    """A repair without its words: "headline: dropped cut-off word 'Nur'" -> "dropped cut-off word"."""
    what = repair.split(": ", 1)[-1]
    if NAME_REPAIR_MARKER.strip(": ") in what:
        return "respelled a name"
    return re.sub(r"\s*['\"].*$", "", re.sub(r"\d+", "#", what))


def run_mode(settings: Settings, rows: list[Any], n: int, lone: int) -> tuple[dict[str, Any], str]:
    """One engine with ``settings``; its figures and dtype."""
    registry = registry_from_settings(settings)
    engine = VllmEngine.start(settings)
    try:
        writer = CreativeWriter(engine, settings, adapters=registry)
        return asyncio.run(measure(writer, rows, n, lone)), engine.dtype
    finally:
        engine.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", default=str(ROOT / "data/ad_copy/test.jsonl"))
    parser.add_argument("--adapter", default="house")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--latency-requests", type=int, default=12)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    args = parser.parse_args()
    names = [m for m in args.modes.split(",") if m]
    if unknown := [m for m in names if m not in MODES] or ([] if "off" in names else ["off is required"]):
        parser.error(f"--modes: {', '.join(unknown)}")

    rows = validate_files([Path(args.test)]).rows
    base = Settings().model_copy(
        update={"default_adapter": args.adapter, "max_regenerations": 0, "max_n": max(args.n, 1)}
    )
    modes = {}
    dtype = ""
    for mode in names:
        exact, numbers, fit = MODES[mode]
        update = {"exact_names": exact, "faithful_numbers": numbers, "fit_words": fit}
        modes[mode], dtype = run_mode(base.model_copy(update=update), rows, args.n, args.latency_requests)
        print(mode, modes[mode], file=sys.stderr)
    off = modes["off"]

    def ratio(a: float, b: float) -> float:
        return round(a / b, 4)

    figures = []
    for mode, found in modes.items():
        shipped = mode == SHIPPED_MODE  # the goals hold for what ships
        figures += [
            Figure(
                f"valid first try, {mode}",
                _rounded(found["valid_first_try_rate"]),
                goal=">= 0.9" if shipped else "",
            ),
            Figure(f"unfaithful candidates, {mode}", found["unfaithful"], "count", "0" if shipped else ""),
            Figure(
                f"misspelled names before repair, {mode}",
                _rounded(found["name_misspelled_rate"]),
                goal="<= 0.01" if shipped else "",
            ),
        ]
        if mode != "off":
            figures += [
                Figure(
                    f"lone request p50, {mode} ÷ off",
                    ratio(found["lone_request_p50_s"], off["lone_request_p50_s"]),
                ),
                Figure(
                    f"all rows at once, {mode} ÷ off", ratio(found["batch_seconds"], off["batch_seconds"])
                ),
            ]
    write_result(
        "copy_decoding" if args.adapter == "house" else f"copy_decoding_{args.adapter}",
        figures,
        {"adapter": args.adapter, "rows": len(rows), "n": args.n, "modes": modes},
        dtype=dtype,
        kernel=None,
        settings=run_settings(args, engine_settings(base)),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
