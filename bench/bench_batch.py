"""Batch runner vs a naive per-row loop over the HTTP API, on the same rows and settings.

Side A: ``python -m creative batch`` (one engine, every request in flight at once, ranking in groups).
Side B: the API under uvicorn (like ``bench_api.py``), one ``POST /v1/creatives`` after another, the way a
script calling the service row by row would. Both sides write the same rows with the same arm settings;
engine start-up is excluded from both. Prints and writes ``bench/results/batch.json`` with rows/s of each
side and their ratio (goal: >= 3x).

    .venv/bin/python bench/bench_batch.py [--rows 40] [--n 2] [--k 1]
    .venv/bin/python bench/bench_batch.py --make-rows 200 examples/batch_rows.jsonl   # the 200-row input

Both sides use the ``house`` adapter (LoRA on, as shipped); ``--adapter none`` runs the base model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Figure, engine_dtype, engine_settings, lora_kernel, ratio, run_settings, write_result
from serving import free_port

from core.paths import SOURCE_ROOT
from creative.settings import Settings

EXAMPLES = SOURCE_ROOT / "examples" / "rows.jsonl"
PLACEMENTS = ["google_search", "meta_feed", "push", "email"]


def make_rows(count: int) -> list[dict[str, Any]]:
    """``count`` rows mixing the example profiles, products and the four placements (deterministic)."""
    examples = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    profiles = list({json.dumps(r["profile"], sort_keys=True): r["profile"] for r in examples}.values())
    products = list({json.dumps(r["product"], sort_keys=True): r["product"] for r in examples}.values())
    rows = []
    for i in range(count):
        profile = {**profiles[(i // len(products)) % len(profiles)], "id": f"p{i:04d}"}
        rows.append(
            {
                "profile": profile,
                "product": products[i % len(products)],
                "placement": PLACEMENTS[(i // (len(products) * len(profiles))) % len(PLACEMENTS)],
                "seed": i,
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """One JSON object per line."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def arm_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The one arm both sides use."""
    return {"adapter": args.adapter, "temperature": 0.8, "top_p": 0.95, "n": args.n, "k": args.k, "seed": 11}


def run_batch(rows_path: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Side A: the batch CLI in a subprocess; its summary (processing time excludes engine start)."""
    arms = workdir / "arms.yaml"
    arm = arm_settings(args)
    arms.write_text(
        "arms:\n  - name: bench\n"
        + "".join(f"    {k}: {'null' if v is None else v}\n" for k, v in arm.items())
    )
    output = workdir / "out.jsonl"
    command = [sys.executable, "-m", "creative", "batch", "--input", str(rows_path), "--arms", str(arms)]
    command += ["--output", str(output), "--quiet"]
    completed = subprocess.run(
        command, cwd=SOURCE_ROOT, capture_output=True, text=True, check=False, env=os.environ.copy()
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    line = next(ln for ln in completed.stderr.splitlines() if ln.startswith('{"summary"'))
    return dict(json.loads(line)["summary"])


async def run_http(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Side B: the API, one request after another; seconds exclude start-up and one warm-up request."""
    import httpx
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ApiSettings(log_format="text")), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    bodies = [{**row, **arm_settings(args)} for row in rows]
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=900) as client:
            for _ in range(1200):
                if (await client.get("/health")).status_code == 200:
                    break
                await asyncio.sleep(0.5)
            (await client.post("/v1/creatives", json=bodies[0])).raise_for_status()  # warm-up
            started = time.perf_counter()
            statuses = [(await client.post("/v1/creatives", json=body)).status_code for body in bodies]
            seconds = time.perf_counter() - started
    finally:
        server.should_exit = True
        await serving
    return {
        "requests": len(bodies),
        "ok": sum(s == 200 for s in statuses),
        "seconds": round(seconds, 3),
        "rows_per_s": round(len(bodies) / seconds, 3),
    }


def main() -> None:
    """Run both sides and write the JSON results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--adapter", default="house", help="LoRA adapter for both sides ('none': base model)")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--make-rows", nargs=2, metavar=("COUNT", "PATH"), help="only write COUNT rows to PATH"
    )
    args = parser.parse_args()
    args.adapter = None if args.adapter in ("none", "null") else args.adapter
    if args.make_rows:
        write_jsonl(Path(args.make_rows[1]), make_rows(int(args.make_rows[0])))
        return

    rows = make_rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        rows_path = Path(tmp) / "rows.jsonl"
        write_jsonl(rows_path, rows)
        batch = run_batch(rows_path, args, Path(tmp))
    http = asyncio.run(run_http(rows, args))
    batch_figures = {
        key: batch.get(key)
        for key in (
            "seconds",
            "rows_per_s",
            "errors",
            "valid_first_try_rate",
            "rank_calls",
            "rank_mean_group",
        )
    }
    settings = Settings()
    write_result(
        "batch",
        [
            Figure(
                "batch ÷ per-row HTTP loop, rows/s",
                ratio(batch["rows_per_s"], http["rows_per_s"], 2),
                goal=">= 3",
            ),
            Figure("batch rows/s", batch["rows_per_s"], "rows/s"),
        ],
        {"rows": args.rows, "arm": arm_settings(args), "batch": batch_figures, "http_sequential": http},
        dtype=engine_dtype(settings),
        kernel=lora_kernel() if args.adapter and settings.enable_lora else None,
        settings=run_settings(args, engine_settings(settings)),
        output=args.output,
    )


if __name__ == "__main__":  # vLLM's engine process re-imports __main__
    main()
