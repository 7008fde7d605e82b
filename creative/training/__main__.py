"""``python -m creative.training``: validate, audit and split the data, sample best-of-n targets, train an
adapter, evaluate it.

    python -m creative.training validate data/ad_copy/raw-*.jsonl
    python -m creative.training split data/ad_copy/raw-*.jsonl --out data/ad_copy
    python -m creative.training train --data data/ad_copy/train.jsonl \\
        --validation data/ad_copy/validation.jsonl --out var/adapters/mine
    python -m creative.training evaluate --test data/ad_copy/test.jsonl --adapter house --adapter playful
    python -m creative.training audit [--rows] data/ad_copy/train.jsonl data/ad_copy/test.jsonl
    python -m creative.training sample --data data/ad_copy/train.jsonl --adapter house --n 8 --out OUT.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from creative.training.data import SPLITS, split_by_product, validate_files, write_rows


def _validate(args: argparse.Namespace) -> int:
    report = validate_files(args.files)
    print(report.render(limit=args.limit))
    return 0 if report.ok else 1


def _split(args: argparse.Namespace) -> int:
    report = validate_files(args.files)
    if not report.ok:
        print(report.render(), file=sys.stderr)
        print("error: fix the data before splitting", file=sys.stderr)
        return 1
    parts = split_by_product(report.rows, args.validation, args.test, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name in SPLITS:
        digest = write_rows(args.out / f"{name}.jsonl", parts[name])
        summary[name] = {
            "rows": len(parts[name]),
            "products": len({r.product.name for r in parts[name]}),
            "sha256": digest,
        }
    print(json.dumps(summary, indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    from creative.settings import Settings
    from creative.training.checkpoint import TrainingCheckpointError
    from creative.training.train import TrainConfig, TrainingConfigError, TrainingDataError, train

    config = TrainConfig(
        data=args.data,
        validation=args.validation,
        out=args.out,
        model_path=args.model or Settings().resolved_model_path,
        voice=args.voice,
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        target_modules=tuple(args.target_modules.split(",")),
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        save_steps=args.save_steps,
        device=args.device,
        extra_data=tuple(args.extra_data or ()),
        init_adapter=args.init_adapter,
    )
    try:
        card = train(config, resume=args.resume, progress=not args.quiet)
    except (TrainingDataError, TrainingConfigError, TrainingCheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(card["metrics"]))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from creative.training.audit import audit, row_gaps

    files = {}
    for path in args.files:
        report = validate_files([path])
        if not report.ok:
            print(report.render(), file=sys.stderr)
            return 1
        files[path] = report.rows
    if args.rows:
        for path, rows in files.items():
            for gap in row_gaps(rows, args.voice):
                print(json.dumps({"file": str(path), **gap}))
        return 0
    print(json.dumps(audit(files, args.voice), indent=2))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from creative.training.best_of_n import run_sampling

    return run_sampling(args)


def _evaluate(args: argparse.Namespace) -> int:
    from creative.training.evaluate import run_evaluation

    args.adapter = args.adapter or ["default"]
    if args.n is None:
        from creative.settings import Settings

        args.n = Settings().default_n
    return run_evaluation(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m creative.training", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "validate", help="report rows over limits, unknown placements, invented numbers, duplicates"
    )
    check.add_argument("files", type=Path, nargs="+")
    check.add_argument("--limit", type=int, default=200, help="problems to print")
    check.set_defaults(run=_validate)

    split = sub.add_parser("split", help="validate, then write train/validation/test split by product")
    split.add_argument("files", type=Path, nargs="+")
    split.add_argument("--out", type=Path, required=True)
    split.add_argument("--validation", type=float, default=0.1)
    split.add_argument("--test", type=float, default=0.1)
    split.add_argument("--seed", type=int, default=0)
    split.set_defaults(run=_split)

    _add_train(sub)
    _add_audit_sample_evaluate(sub)
    args = parser.parse_args(argv)
    return int(args.run(args))


def _add_train(sub: Any) -> None:
    tr = sub.add_parser("train", help="train a LoRA adapter")
    tr.add_argument("--data", type=Path, required=True)
    tr.add_argument("--validation", type=Path, default=None)
    tr.add_argument(
        "--extra-data",
        type=Path,
        action="append",
        help="more training rows (repeatable), e.g. best-of-n targets",
    )
    tr.add_argument(
        "--out",
        type=Path,
        required=True,
        help="adapter folder, e.g. var/adapters/NAME (HOME/adapters is loaded at start)",
    )
    tr.add_argument("--model", type=Path, default=None, help="base model folder (default: the served model)")
    tr.add_argument("--voice", default=None, help="train on the rows' `voices[VOICE]` copy (brand voice)")
    tr.add_argument(
        "--init-adapter",
        type=Path,
        default=None,
        help="start from this adapter folder's weights, e.g. a voice from creative/shipped_adapters/house",
    )
    tr.add_argument("--rank", type=int, default=16)
    tr.add_argument("--alpha", type=int, default=32)
    tr.add_argument("--dropout", type=float, default=0.05)
    tr.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    tr.add_argument("--epochs", type=int, default=2)
    tr.add_argument("--lr", type=float, default=3e-4)
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--save-steps", type=int, default=50, help="checkpoint every N steps (and each epoch)")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(run=_train)


def _add_audit_sample_evaluate(sub: Any) -> None:
    au = sub.add_parser("audit", help="how personalized the targets are (the lexical judge, per file)")
    au.add_argument("files", type=Path, nargs="+")
    au.add_argument("--rows", action="store_true", help="one JSON line per row the lexical judge would fail")
    au.add_argument("--voice", default=None, help="audit the rows' copy in this brand voice (default: house)")
    au.set_defaults(run=_audit)

    sa = sub.add_parser("sample", help="best-of-n targets from an adapter, for rejection-sampling training")
    sa.add_argument("--data", type=Path, required=True)
    sa.add_argument("--adapter", default="house", help="adapter to sample from (base: the base model)")
    sa.add_argument("--n", type=int, default=8, help="candidates per row")
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--min-novelty", type=float, default=0.8, help="eligible: novelty at least this")
    sa.add_argument("--novelty-weight", type=float, default=0.1, help="reward = contrast + weight × novelty")
    sa.add_argument("--out", type=Path, required=True, help="rows with the chosen copy as target (JSONL)")
    sa.set_defaults(run=_sample)

    ev = sub.add_parser("evaluate", help="base model vs adapters on the unseen test products")
    ev.add_argument("--test", type=Path, default=Path("data/ad_copy/test.jsonl"))
    ev.add_argument(
        "--adapter",
        action="append",
        default=None,
        help="an adapter to compare (repeat for several; default: default)",
    )
    ev.add_argument("--n", type=int, default=None, help="candidates per row (default: the served DEFAULT_N)")
    ev.add_argument(
        "--voice-data",
        type=Path,
        default=Path("data/ad_copy/train.jsonl"),
        help="rows the voice check learns from",
    )
    ev.add_argument("--out", type=Path, default=Path("docs/evaluation"))
    ev.set_defaults(run=_evaluate)


if __name__ == "__main__":  # the evaluation starts vLLM, whose workers re-import __main__
    raise SystemExit(main())
