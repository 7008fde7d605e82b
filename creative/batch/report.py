"""Compare the arms of a batch output: the evaluation scorecard per arm, side by side, and a chart.

Figures per arm (``ranking.metrics.Scorecard`` plus a few counts): validity (valid first try, valid after
repair), faithfulness (share of candidates without a number outside the product facts), personalization
(pairs of rows with the same product and placement but different profiles, each arm's copy told apart),
diversity (distinct-2 and 1 − mean pairwise cosine of the top-k), novelty against the template text and the
mean rank score. The candidate rates carry 95% intervals over records, by the online readout's estimator
(:mod:`experiments.stats`). ``ranking`` is imported inside the functions: only entry points load it.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.schema import CreativeRequest, CreativeResult, ErrorInfo, Variant
from creative.batch.io import read_records, read_rows
from creative.rows import parse_row_object
from experiments import stats

if TYPE_CHECKING:
    import torch

EmbedFn = Callable[[Sequence[str]], "torch.Tensor"]
MAX_PAIRS_PER_ARM = 200

# (key, label, higher is better) in display order
FIGURES: list[tuple[str, str]] = [
    ("records", "records"),
    ("errors", "errors"),
    ("valid_first_try_rate", "valid first try"),
    ("valid_after_repair_rate", "valid after repair"),
    ("faithfulness", "faithfulness"),
    ("personalization", "personalization"),
    ("distinct_2", "distinct-2 (top-k)"),
    ("diversity", "1 − mean cosine (top-k)"),
    ("novelty", "novelty vs template"),
    ("mean_score", "mean score"),
    ("mean_top_score", "mean rank-1 score"),
    ("completion_tokens_per_record", "output tokens / record"),
]
CHARTED = [
    "valid_first_try_rate",
    "valid_after_repair_rate",
    "faithfulness",
    "personalization",
    "distinct_2",
    "diversity",
    "mean_score",
]


def _as_result(record: dict[str, Any]) -> CreativeResult:
    template = record["template"]
    return CreativeResult.model_validate(
        {**record, "template": {"name": template["name"], "version": template["version"]}, "timings": {}}
    )


def load_requests(input_path: Path | None) -> dict[int, CreativeRequest]:
    """Input rows by row number (only rows that are valid requests), for the profile-based figures."""
    if input_path is None or not input_path.is_file():
        return {}
    requests: dict[int, CreativeRequest] = {}
    for item in read_rows(input_path):
        data = parse_row_object(item.text)
        if isinstance(data, ErrorInfo):
            continue
        try:
            requests[item.row] = CreativeRequest.model_validate({**data, "adapter": None})
        except ValueError:
            continue
    return requests


def _product_key(request: CreativeRequest, placement: str) -> str:
    product = request.product
    return json.dumps([placement, product.name, product.brand, product.description])


def _pairs(
    arm_records: list[tuple[dict[str, Any], CreativeResult]], requests: dict[int, CreativeRequest]
) -> list[Any]:
    """Contrasting profile pairs: consecutive rows of one (product, placement) with different profiles."""
    from ranking.metrics import ProfilePair

    groups: dict[str, list[tuple[CreativeRequest, list[Variant]]]] = defaultdict(list)
    for record, result in arm_records:
        request = requests.get(record["row"])
        if request is not None and result.variants:
            groups[_product_key(request, result.placement)].append((request, result.variants))
    pairs: list[ProfilePair] = []
    for members in groups.values():
        for (req_a, copy_a), (req_b, copy_b) in itertools.pairwise(members):
            if req_a.profile.model_dump(exclude={"id"}) != req_b.profile.model_dump(exclude={"id"}):
                pairs.append(ProfilePair.from_requests(req_a, copy_a, req_b, copy_b))
            if len(pairs) >= MAX_PAIRS_PER_ARM:
                return pairs
    return pairs


def rate_interval(
    results: Sequence[CreativeResult], numerator: Callable[[CreativeResult], int]
) -> list[float] | None:
    """The 95% interval of a candidate rate over records (each record a unit, its candidates the
    denominator): the estimator the online readout uses, so offline and online arms read the same way."""
    from ranking.metrics import candidates

    if len(results) < 2:
        return None
    sums = stats.UnitSums.of([numerator(r) for r in results], [candidates(r) for r in results])
    low, high = stats.rate_interval(stats.ratio(sums))
    return None if not (np.isfinite(low) and np.isfinite(high)) else [float(low), float(high)]


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def arm_figures(
    records: list[dict[str, Any]],
    requests: dict[int, CreativeRequest],
    embed: EmbedFn | None,
    template_text: Callable[[str], str | None],
) -> dict[str, Any]:
    """The scorecard figures of one arm's records."""
    from ranking.metrics import Scorecard

    good = [(r, _as_result(r)) for r in records if "error" not in r]
    results = [result for _, result in good]
    texts = [template_text(r["template"]["ref"]) for r, _ in good]
    with_template = all(t is not None for t in texts) and bool(texts)
    card = Scorecard.compute(
        results,
        embed=embed,
        template_texts=[t or "" for t in texts] if with_template else None,
        pairs=_pairs(good, requests) if embed is not None else (),
    )
    scores = [v.score.score for res in results for v in res.variants if v.score is not None]
    tops = [res.variants[0].score.score for res in results if res.variants and res.variants[0].score]
    return {
        "records": len(records),
        "errors": len(records) - len(good),
        "adapter": records[0].get("adapter") if records else None,
        "templates": sorted({r["template"]["ref"] for r in records if r.get("template")}),
        "valid_first_try_rate": card.valid_first_try_rate,
        "valid_first_try_rate_interval": rate_interval(results, lambda r: r.stats.valid_first_try),
        "valid_after_repair_rate": card.valid_after_repair_rate,
        "valid_after_repair_rate_interval": rate_interval(results, lambda r: r.stats.returned),
        "faithfulness_violations": card.faithfulness_violations,
        "faithfulness": None
        if card.faithfulness_violation_rate is None
        else 1 - card.faithfulness_violation_rate,
        "personalization": card.personalization,
        "distinct_1": card.distinct_1,
        "distinct_2": card.distinct_2,
        "mean_pairwise_cosine": card.mean_pairwise_cosine,
        "diversity": None if card.mean_pairwise_cosine is None else 1 - card.mean_pairwise_cosine,
        "novelty": card.novelty,
        "mean_score": _mean(scores),
        "mean_top_score": _mean(tops),
        "completion_tokens_per_record": _mean(float(res.usage.completion_tokens) for res in results),
    }


def build_report(
    output: Path,
    *,
    input_path: Path | None = None,
    embed: EmbedFn | None = None,
    template_text: Callable[[str], str | None] = lambda ref: None,
) -> dict[str, Any]:
    """``{"arms": [names in output order], "figures": {arm: {...}}}`` for a batch output file."""
    by_arm: dict[str, list[dict[str, Any]]] = {}
    for record in read_records(output):
        by_arm.setdefault(record["arm"], []).append(record)
    requests = load_requests(input_path)
    figures = {arm: arm_figures(records, requests, embed, template_text) for arm, records in by_arm.items()}
    return {"output": str(output), "arms": list(by_arm), "figures": figures}


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _span(interval: list[float] | None) -> str:
    return "–" if not interval else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def format_table(report: dict[str, Any]) -> str:
    """The figures as a plain-text table: one row per figure, one column per arm."""
    arms: list[str] = report["arms"]
    rows = [["", *arms]]
    for key, label in FIGURES:
        rows.append([label, *(_cell(report["figures"][arm].get(key)) for arm in arms)])
        if any(report["figures"][arm].get(f"{key}_interval") for arm in arms):
            rows.append(
                ["  95% interval", *(_span(report["figures"][arm].get(f"{key}_interval")) for arm in arms)]
            )
    rows.append(["adapter", *(_cell(report["figures"][arm].get("adapter") or "base") for arm in arms)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def _figure_png(report: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms: list[str] = report["arms"]
    labels = dict(FIGURES)
    keys = [k for k in CHARTED if any(report["figures"][a].get(k) is not None for a in arms)]
    width = 0.8 / max(len(arms), 1)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.4 * len(keys) + 2), 4.8), dpi=110)
    for i, arm in enumerate(arms):
        values = [report["figures"][arm].get(k) or 0.0 for k in keys]
        positions = [x + (i - (len(arms) - 1) / 2) * width for x in range(len(keys))]
        bars = ax.bar(positions, values, width, label=arm)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(keys)), [labels[k] for k in keys], rotation=20, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("share / score (higher is better)")
    ax.set_title(f"Arms compared: {Path(report['output']).name}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_chart(report: dict[str, Any], path: Path) -> Path:
    """A grouped bar chart of the arms: PNG, or HTML (the PNG inline plus the table) for ``.html``."""
    png = _figure_png(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in {".html", ".htm"}:
        image = base64.b64encode(png).decode("ascii")
        page = (
            "<!doctype html><meta charset='utf-8'><title>Batch arms report</title>"
            f"<h1>{html.escape(Path(report['output']).name)}</h1>"
            f"<img alt='arms chart' src='data:image/png;base64,{image}'>"
            f"<pre>{html.escape(format_table(report))}</pre>"
        )
        path.write_text(page, encoding="utf-8")
    else:
        path.write_bytes(png)
    return path
