"""Schemathesis with all its checks against the API on the real engine, at 1,000+ cases.

The same harness as ``tests/integration/api/test_fuzz_real.py`` (``tests/support/fuzz.py``), scaled up:
one real vLLM engine lent to two apps served over real HTTP, small limits (n <= 2, 32 output tokens), a
throw-away template registry; first open mode with every Schemathesis phase (examples, coverage,
fuzzing, stateful), then with an API key configured (every generated request carries it; Schemathesis
checks that requests without it are refused). Prints and writes ``bench/results/fuzz.json``: cases,
responses by status, 5xx count and check failures per run. Goal (issue 14): >= 1,000 cases, 0 x 5xx,
0 check failures.

    .venv/bin/python bench/bench_fuzz.py [--examples 10] [--seed 1] [--no-valid-coverage]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creative.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))  # the harness lives with the tests

from api.app import create_app
from api.auth import SCOPES, new_key
from api.settings import ApiSettings
from creative.engine import VllmEngine
from tests.support.borrowed import BorrowedEngine
from tests.support.fuzz import SMALL_LIMITS, FuzzPlan, FuzzReport, run_schemathesis, serve_http

RESULTS = PROJECT_ROOT / "bench" / "results" / "fuzz.json"
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")


async def fuzz_once(
    engine: VllmEngine, settings: ApiSettings, plan: FuzzPlan, workdir: Path, headers: list[str]
) -> FuzzReport:
    """One Schemathesis run against an app on the shared engine."""
    app = create_app(settings, engine_factory=lambda s: BorrowedEngine(engine))
    async with serve_http(app) as url:
        return await run_schemathesis(url, workdir / "report", plan, headers=headers)


async def run(examples: int, seed: int, valid_coverage: bool, workdir: Path) -> dict[str, Any]:
    """Open mode (all phases), then with a key (coverage + fuzzing), on one engine."""
    base = {**SMALL_LIMITS, "log_format": "text", "log_level": "WARNING"}
    open_settings = ApiSettings(**base, templates_db_url=f"sqlite:///{workdir / 'open.db'}")
    engine = await asyncio.to_thread(VllmEngine.start, open_settings)
    try:
        key, record = new_key("fuzz", SCOPES)
        keys_settings = ApiSettings(
            **base, templates_db_url=f"sqlite:///{workdir / 'keys.db'}", api_keys=[record]
        )
        runs = {
            "open": await fuzz_once(
                engine,
                open_settings,
                FuzzPlan(examples, ALL_PHASES, seed, valid_coverage),
                workdir / "open",
                [],
            ),
            "api_keys": await fuzz_once(
                engine,
                keys_settings,
                FuzzPlan(examples, ("examples", "coverage", "fuzzing"), seed, valid_coverage),
                workdir / "keys",
                [f"Authorization: Bearer {key}"],
            ),
        }
    finally:
        engine.shutdown()
    return {name: report.summary() for name, report in runs.items()}


def main() -> None:
    """Run the benchmark and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-valid-coverage",
        dest="valid_coverage",
        action="store_false",
        help="skip the coverage phase's ~100 valid boundary cases per generating operation (each is a real "
        "generation; most random valid-by-schema bodies are refused for reasons the schema cannot state)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as workdir:
        runs = asyncio.run(run(args.examples, args.seed, args.valid_coverage, Path(workdir)))
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "limits": SMALL_LIMITS,
        "examples_per_operation": args.examples,
        "seed": args.seed,
        "valid_coverage": args.valid_coverage,
        "cases": sum(r["cases"] for r in runs.values()),
        "server_errors_5xx": sum(r["server_errors_5xx"] for r in runs.values()),
        "check_failures": sum(r["check_failures"] for r in runs.values()),
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
