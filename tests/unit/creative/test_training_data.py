"""Training data: validation report, product split, and refusal to train on invalid data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from creative.training.data import read_lines, split_by_product, validate_rows
from creative.training.train import TrainConfig, TrainingDataError, train
from tests.unit.creative.training_support import row


def lines(*rows: dict[str, Any] | str) -> list[tuple[int | str, str]]:
    return [(i, r if isinstance(r, str) else json.dumps(r)) for i, r in enumerate(rows, start=1)]


def test_a_good_row_passes() -> None:
    report = validate_rows(lines(row()))
    assert report.ok and len(report.rows) == 1
    assert report.summary()["products"] == 1


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        (row(target={"title": "x" * 51, "body": "A fine body text."}), "target.title", "51 characters"),
        (row(placement="billboard"), "placement", "unknown placement"),
        (
            row(target={"title": "Only 3 left", "body": "The Peak TrailRunner X is $79."}),
            "target.title",
            "'3'",
        ),
        (
            row(target={"title": "Guaranteed dry feet", "body": "The Peak TrailRunner X."}),
            "target.title",
            "guaranteed",
        ),
        (row(target={"headline": "Wrong fields"}), "target", "fields must be"),
        (row(extra=1), "extra", "Extra inputs"),
        ("{not json", "row", "Invalid JSON"),
        (
            row(voices={"playful": {"title": "Splash on!", "body": "Now 50% off the TrailRunner X."}}),
            "voices.playful.body",
            "percentage",
        ),
    ],
)
def test_problems_name_the_line_and_field(bad: dict[str, Any] | str, field: str, message: str) -> None:
    report = validate_rows(lines(row(), bad))
    assert not report.ok and len(report.rows) == 1
    problem = report.problems[0]
    assert problem.line == 2 and problem.field == field and message.lower() in problem.message.lower()


def test_duplicates_are_reported() -> None:
    again = row(profile={"id": "p2", "interests": ["hiking"]})
    again["target"] = {"title": "DRY feet on  muddy trails", "body": row()["target"]["body"]}
    report = validate_rows(lines(row(), again))
    assert [str(p) for p in report.problems] == ["line 2: target: duplicate of line 1"]


def test_split_keeps_every_product_in_one_part() -> None:
    rows = []
    for p in range(20):
        product = {**row()["product"], "name": f"Shoe {p}", "features": ["waterproof"], "price": 10 + p}
        for persona in ("runners", "hikers", "walkers"):
            body = f"Shoe {p} for {persona} is here."
            rows.append(
                row(
                    product=product, profile={"id": f"u{persona}"}, target={"title": "Dry feet", "body": body}
                )
            )
    report = validate_rows(lines(*rows))
    assert report.ok, report.render()
    parts = split_by_product(report.rows, 0.1, 0.1, seed=0)
    names = {name: {r.product.name for r in part} for name, part in parts.items()}
    assert sum(len(part) for part in parts.values()) == 60
    assert len(names["test"]) == 2 and len(names["validation"]) == 2 and len(names["train"]) == 16
    assert not (names["test"] & names["train"]) and not (names["validation"] & names["train"])
    assert split_by_product(report.rows, 0.1, 0.1, seed=0) == parts


def test_training_refuses_invalid_data_with_the_report(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(row()) + "\n" + json.dumps(row(placement="billboard")) + "\n")
    config = TrainConfig(data=data, validation=None, out=tmp_path / "out", model_path=tmp_path / "no-model")
    with pytest.raises(TrainingDataError, match=r"train\.jsonl:2: placement: unknown placement 'billboard'"):
        train(config, progress=False)
    assert not (tmp_path / "out").exists()


def test_lines_are_numbered_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("one\n\ntwo\n")
    (tmp_path / "b.jsonl").write_text("three\n")
    assert [n for n, _ in read_lines([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])] == [
        "a.jsonl:1",
        "a.jsonl:3",
        "b.jsonl:1",
    ]
