"""Streaming input rows (JSONL or Parquet) and the final output file (JSONL or Parquet, written atomically).

Rows are never held all at once: JSONL is read line by line, Parquet batch by batch
(``pyarrow.parquet.ParquetFile.iter_batches``). A row is numbered from 1: its line number in a JSONL file
(blank lines are skipped but counted, like ``creative generate``), its record number in a Parquet file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from creative.files import replace_durably
from creative.rows import decode_line

FileFormat = Literal["jsonl", "parquet"]
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
PARQUET_CHUNK_ROWS = 512


class InputFormatError(ValueError):
    """The file's extension names no supported format."""


def file_format(path: Path) -> FileFormat:
    """``jsonl`` or ``parquet`` from the file extension."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise InputFormatError(f"{path.name}: unsupported extension {suffix or '(none)'}; use .jsonl or .parquet")


@dataclass(frozen=True)
class InputRow:
    """One input row: its number and its JSON text (parsed per arm later, so a bad row is one record)."""

    row: int
    text: str


def _without_nulls(value: Any) -> Any:
    """Parquet has no 'absent': a null struct field or list means the field was not given."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _jsonl_rows(path: Path) -> Iterator[InputRow]:
    """Non-blank lines; one that is not UTF-8 keeps its number and becomes an error record per arm."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield InputRow(number, decode_line(raw).rstrip("\n"))


def _parquet_rows(path: Path) -> Iterator[InputRow]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_CHUNK_ROWS):
        for record in batch.to_pylist():
            number += 1
            yield InputRow(number, json.dumps(_without_nulls(record), ensure_ascii=False, default=str))


def read_rows(path: Path) -> Iterator[InputRow]:
    """Every row of a JSONL or Parquet file, streamed."""
    return _parquet_rows(path) if file_format(path) == "parquet" else _jsonl_rows(path)


def count_rows(path: Path) -> int:
    """Rows in the file (Parquet: from its metadata; JSONL: non-blank lines)."""
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _parquet_values(record: dict[str, Any], text: str) -> dict[str, Any]:
    variants = record.get("variants") or []
    error = record.get("error")
    template = record.get("template") or {}
    top = variants[0].get("score") if variants else None
    return {
        "row": record["row"],
        "arm": record["arm"],
        "placement": record.get("placement"),
        "template": template.get("ref") if isinstance(template, dict) else None,
        "adapter": record.get("adapter"),
        "seed": record.get("seed"),
        "error_code": error.get("code") if isinstance(error, dict) else None,
        "variants": len(variants),
        "top_score": top.get("score") if isinstance(top, dict) else None,
        "completion_tokens": (record.get("usage") or {}).get("completion_tokens"),
        "record": text,
    }


def _parquet_schema() -> Any:
    """Parquet output: a few columns to filter on, plus the whole record as JSON (variants differ by
    placement, so a nested schema would change from chunk to chunk)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("row", pa.int64()),
            ("arm", pa.string()),
            ("placement", pa.string()),
            ("template", pa.string()),
            ("adapter", pa.string()),
            ("seed", pa.int64()),
            ("error_code", pa.string()),
            ("variants", pa.int64()),
            ("top_score", pa.float64()),
            ("completion_tokens", pa.int64()),
            ("record", pa.string()),
        ]
    )


def _write_parquet(texts: Iterable[str], target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    with pq.ParquetWriter(target, schema) as writer:
        chunk: list[dict[str, Any]] = []
        for text in texts:
            chunk.append(_parquet_values(json.loads(text), text))
            if len(chunk) >= PARQUET_CHUNK_ROWS:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                chunk = []
        if chunk:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))


def write_output(texts: Iterable[str], target: Path) -> int:
    """Write records (JSON texts, in their final order) to ``target`` atomically: a temporary file in the
    same folder, fsynced, then renamed and the folder fsynced. Returns the number of records."""
    fmt = file_format(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    count = 0

    def counted() -> Iterator[str]:
        nonlocal count
        for text in texts:
            count += 1
            yield text

    try:
        if fmt == "parquet":
            _write_parquet(counted(), tmp)
        else:
            with tmp.open("w", encoding="utf-8") as out:
                for text in counted():
                    out.write(text + "\n")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        replace_durably(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a batch output file (JSONL or Parquet), in file order."""
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_CHUNK_ROWS, columns=["record"]):
            for text in batch.column(0).to_pylist():
                yield json.loads(text)
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
