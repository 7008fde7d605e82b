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
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import Figure, engine_dtype, engine_settings, lora_kernel, write_result

from core.paths import SOURCE_ROOT

sys.path.insert(0, str(SOURCE_ROOT))  # the harness lives with the tests

from api.app import create_app
from api.auth import SCOPES, new_key
from api.settings import ApiSettings
from creative.engine import VllmEngine
from tests.support.borrowed import BorrowedEngine
from tests.support.fuzz import SMALL_LIMITS, FuzzPlan, FuzzReport, run_schemathesis, serve_http

ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")


async def fuzz_once(
    engine: VllmEngine, settings: ApiSettings, plan: FuzzPlan, workdir: Path, headers: list[str]
) -> FuzzReport:
    """One Schemathesis run against an app on the shared engine."""
    app = create_app(settings, engine_factory=lambda s: BorrowedEngine(engine))
    async with serve_http(app) as url:
        return await run_schemathesis(url, workdir / "report", plan, headers=headers)


def small_settings(workdir: Path, **extra: Any) -> ApiSettings:
    """Default settings with the fuzz limits and a throw-away template registry."""
    return ApiSettings(
        **SMALL_LIMITS,
        log_format="text",
        log_level="WARNING",
        templates_db_url=f"sqlite:///{workdir}.db",
        **extra,
    )


async def run(examples: int, seed: int, valid_coverage: bool, workdir: Path) -> dict[str, Any]:
    """Open mode (all phases), then with a key (coverage + fuzzing), on one engine."""
    open_settings = small_settings(workdir / "open")
    engine = await asyncio.to_thread(VllmEngine.start, open_settings)
    try:
        key, record = new_key("fuzz", SCOPES)
        keys_settings = small_settings(workdir / "keys", api_keys=[record])
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
    """Run the benchmark and write ``bench/results/fuzz.json``."""
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
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as workdir:
        runs = asyncio.run(run(args.examples, args.seed, args.valid_coverage, Path(workdir)))
        settings = small_settings(Path(workdir) / "settings")
    total = {key: sum(r[key] for r in runs.values()) for key in ("cases", "generations")}
    failures = {key: sum(r[key] for r in runs.values()) for key in ("server_errors_5xx", "check_failures")}
    figures = [
        Figure("cases", total["cases"], "count", ">= 1000"),
        Figure("real_generations", total["generations"], "count"),
        Figure("server_errors_5xx", failures["server_errors_5xx"], "count", "== 0"),
        Figure("check_failures", failures["check_failures"], "count", "== 0"),
    ]
    details = {
        "limits": SMALL_LIMITS,
        "examples_per_operation": args.examples,
        "seed": args.seed,
        "valid_coverage": args.valid_coverage,
        "runs": runs,
    }
    write_result(
        "fuzz",
        figures,
        details,
        dtype=engine_dtype(settings),
        kernel=lora_kernel(),
        settings=engine_settings(settings),
        output=args.output,
    )


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
