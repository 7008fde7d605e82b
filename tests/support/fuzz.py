"""Schemathesis with all its checks against the app served over real HTTP, for tests and ``bench_fuzz``.

The app runs under uvicorn on the caller's event loop (so it can borrow a session vLLM engine, whose
output handler lives on that loop); Schemathesis runs as its own process (``st run --checks all
--mode all``: positive and negative cases for every operation and method, response schemas, status
codes, headers, auth) and writes JSON and NDJSON reports, which :class:`FuzzReport` reads: how many cases
ran, every response status, and every check failure.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

START_TIMEOUT_S = 300.0  # ranker + engine start on a busy 2-core machine
# Small limits keep real generations short: at most 2 candidates of 32 tokens, one round.
SMALL_LIMITS: dict[str, Any] = {
    "max_n": 2,
    "default_n": 2,
    "max_k": 2,
    "default_k": 1,
    "max_output_tokens": 32,
    "max_regenerations": 0,
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve_http(app: FastAPI, ready_timeout_s: float = START_TIMEOUT_S) -> AsyncIterator[str]:
    """Serve ``app`` on a free local port in this event loop until the block ends; yields its base URL.

    Returns once the app's service is ready (engine and ranker loaded); fails with a message if it is not
    within ``ready_timeout_s``.
    """
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not server.started:
            if serving.done():
                serving.result()  # a start-up failure, with its traceback
                raise RuntimeError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {ready_timeout_s:.0f} s")
            await asyncio.sleep(0.05)
        await asyncio.wait_for(app.state.service.wait_ready(), timeout=ready_timeout_s)
        status = app.state.service.status
        if status != "ready":
            raise RuntimeError(f"the app did not become ready: {status} ({app.state.service.error})")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@dataclass
class FuzzReport:
    """What one Schemathesis run did: cases, response statuses by operation, check failures."""

    cases: int
    statuses: Counter[int]
    by_operation: Counter[str]
    failures: list[dict[str, Any]]
    errors: list[Any]
    exit_code: int
    seconds: float
    output: str = field(repr=False)

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status."""
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def check_failures(self) -> int:
        """Unique check failures Schemathesis reported."""
        return sum(int(f.get("count", 1)) for f in self.failures)

    @property
    def generations(self) -> int:
        """Requests the engine answered with generated copy (creatives and previews)."""
        return sum(self.by_operation[f"{name} 200"] for name in GENERATING)

    def summary(self) -> dict[str, Any]:
        """The figures, as JSON-ready data."""
        return {
            "cases": self.cases,
            "responses": sum(self.statuses.values()),
            "generations": self.generations,
            "server_errors_5xx": self.server_errors,
            "check_failures": self.check_failures,
            "errors": len(self.errors),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures": self.failures,
            "seconds": round(self.seconds, 1),
        }

    def explain(self) -> str:
        """A failure message: the figures and the tail of Schemathesis's own report."""
        return json.dumps(self.summary(), indent=1) + "\n" + self.output[-6000:]


# Operations that generate with the engine (each valid case costs a real generation).
GENERATING = ("POST /v1/creatives", "POST /v1/templates/{name}/preview")
# `positive_data_acceptance` expects a schema-valid request to succeed. These operations also refuse
# schema-valid requests for reasons JSON Schema cannot express, always with a 400 (422 for template texts)
# whose `param` names the field: k > n, temperature 0 with n > 1, an adapter or template that does not
# exist or does not serve the placement, a prompt over max_prompt_tokens, special tokens or control
# characters in untrusted text, template variables that are not declared or not provided, placements a
# template cannot serve, adapter folders outside the allowed roots or made for another base model, an
# experiment's duplicate arm names or a control that is not one of its arms.
SEMANTIC_REFUSALS = {
    GENERATING: ("400", "422"),
    ("POST /v1/experiments",): ("400",),
    # an arm whose template or adapter the service lacks; a target naming an arm the experiment lacks
    ("POST /v1/experiments/{experiment_id}/arms", "POST /v1/experiments/{experiment_id}/offpolicy"): ("400",),
    ("POST /v1/adapters",): ("400",),
    ("POST /v1/templates/{name}/versions",): ("422",),
}
ACCEPTED = ("2xx", "401", "403", "404", "409", "429", "5xx")  # Schemathesis' default for valid requests


@dataclass(frozen=True)
class FuzzPlan:
    """How much to generate: cases per operation and phase, Schemathesis phases, random seed.

    Without ``seed`` the run is deterministic (the same cases every time, as a test needs); with one it
    explores (a benchmark). The coverage phase adds its own systematic cases (boundaries, wrong types,
    missing fields and headers, unsupported methods); with ``valid_coverage`` False it sends only the
    invalid ones to the operations that generate (its ~100 valid boundary cases would each be a real
    generation), which then get their valid cases from the fuzzing phase.
    """

    max_examples: int = 2
    phases: tuple[str, ...] = ("examples", "coverage", "fuzzing")
    seed: int | None = None
    valid_coverage: bool = False


def config_toml(plan: FuzzPlan) -> str:
    """The ``schemathesis.toml`` for ``plan``: only what the OpenAPI document cannot state."""
    lines = [
        "request-timeout = 300",
        "[cache]",
        "enabled = false",  # no .schemathesis/ folder in the working tree; every run stands alone
        "[checks]",
        "max_response_time = 300",  # a hang guard: one generation on a busy 2-core CPU takes tens of s
    ]
    for names, refusals in SEMANTIC_REFUSALS.items():
        statuses = sorted({*ACCEPTED, *refusals})
        lines += [
            "[[operations]]",
            f"include-name = {json.dumps(list(names))}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(statuses)}",
        ]
        if names == GENERATING and not plan.valid_coverage:
            lines.append('phases.coverage.generation.mode = "negative"')
    return "\n".join(lines) + "\n"


def schemathesis_command(
    base_url: str, report_dir: Path, plan: FuzzPlan, headers: Sequence[str] = ()
) -> list[str]:
    """``st run`` with every check, positive and negative cases, one worker, JSON + NDJSON reports."""
    config = report_dir / "schemathesis.toml"
    report_dir.mkdir(parents=True, exist_ok=True)
    config.write_text(config_toml(plan), encoding="utf-8")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        str(plan.max_examples),
        "--phases",
        ",".join(plan.phases),
        "--workers",
        "1",
        "--report",
        "json,ndjson",
        "--report-dir",
        str(report_dir),
        "--no-color",
    ]
    command += ["--generation-deterministic"] if plan.seed is None else ["--seed", str(plan.seed)]
    for header in headers:
        command += ["--header", header]
    return command


async def run_schemathesis(
    base_url: str, report_dir: Path, plan: FuzzPlan, headers: Sequence[str] = ()
) -> FuzzReport:
    """Run Schemathesis against ``base_url`` without blocking this loop (the server runs on it)."""
    command = schemathesis_command(base_url, report_dir, plan, headers)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout, _ = await process.communicate()
    output = stdout.decode(errors="replace")
    return read_latest_report(report_dir, output, process.returncode or 0, time.monotonic() - started)


def read_latest_report(report_dir: Path, output: str, exit_code: int, seconds: float) -> FuzzReport:
    """The newest run's reports in ``report_dir``; a clear error when Schemathesis wrote none."""
    reports = sorted(report_dir.glob("json-*.json"))
    if not reports:
        raise RuntimeError(f"Schemathesis wrote no report (exit {exit_code}):\n{output[-6000:]}")
    return read_reports(reports[-1], output, exit_code, seconds)


def read_reports(json_report: Path, output: str, exit_code: int, seconds: float) -> FuzzReport:
    """A :class:`FuzzReport` from a run's JSON report and the NDJSON events written next to it."""
    run = json.loads(json_report.read_text(encoding="utf-8"))
    ndjson = json_report.with_name(json_report.name.replace("json-", "ndjson-", 1)).with_suffix(".ndjson")
    statuses: Counter[int] = Counter()
    by_operation: Counter[str] = Counter()
    for label, interaction in _interactions(ndjson):
        response = interaction.get("response")
        if response is None:
            continue
        status = int(response["status_code"])
        statuses[status] += 1
        by_operation[f"{label} {status}"] += 1
    failures = [_failure(entry) for entry in run.get("failures", [])]
    return FuzzReport(
        cases=int(run["test_cases"]["generated"]),
        statuses=statuses,
        by_operation=by_operation,
        failures=failures,
        errors=list(run.get("errors", [])),
        exit_code=exit_code,
        seconds=seconds,
        output=output,
    )


def _interactions(ndjson: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every recorded request/response with its scenario's label (``POST /v1/creatives``, ...)."""
    found: list[tuple[str, dict[str, Any]]] = []
    if not ndjson.is_file():
        return found
    for line in ndjson.read_text(encoding="utf-8").splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if finished:
            recorder = finished["recorder"]
            found += [(recorder["label"], i) for i in (recorder.get("interactions") or {}).values()]
    return found


def _failure(entry: dict[str, Any]) -> dict[str, Any]:
    keep = ("code", "title", "count", "operations")
    return {key: entry[key] for key in keep if key in entry}
