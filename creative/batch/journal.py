"""Resume: a run's progress file and manifest, next to the output.

* ``<output>.partial.jsonl``: every finished row × arm record, appended and flushed as it is done. After a
  crash (even ``kill -9``) its last line may be torn; :meth:`RunJournal.recover` truncates the file at the
  first line that is not a complete record, so only whole records count as done.
* ``<output>.manifest.json``: the input file's size and SHA-256, the arms file's SHA-256, the pinned arm
  resolution (template versions, adapters), the status and, when complete, the summary. A rerun with a
  different input or arms file is refused (``--restart`` starts over).

When every row × arm is done, :meth:`RunJournal.finalize` writes the output sorted by row then arm order,
keeping one record of each key (so each row × arm appears exactly once), and removes the progress file.
Memory stays bounded: finalizing keeps only an index of (key → byte offset) in memory.

Only input errors are permanent. A record whose error is transient (code ``internal``: the row's generation
raised while the engine stayed healthy) is kept in the progress file but does not count as done: a rerun
retries it, and the retry's record wins. The manifest of a finished run records the output's size and
SHA-256, so "complete" is checked against the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from creative.batch.io import write_output
from creative.files import replace_durably

MANIFEST_VERSION = 1
Key = tuple[int, str]
RETRYABLE_CODES = frozenset({"internal"})


class ResumeError(RuntimeError):
    """The existing progress does not belong to this command (the message says what differs)."""


@dataclass(frozen=True)
class Fingerprint:
    """Identity of an input file: size and SHA-256 of its bytes."""

    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"size": self.size, "sha256": self.sha256}


def _atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    replace_durably(tmp, path)


def record_key(record: dict[str, Any]) -> Key:
    """The (row, arm) a record answers."""
    return int(record["row"]), str(record["arm"])


def is_retryable(record: dict[str, Any]) -> bool:
    """Whether a record is a transient failure (retried on resume), not an answer."""
    error = record.get("error")
    return isinstance(error, dict) and error.get("code") in RETRYABLE_CODES


class RunJournal:
    """The progress file and manifest of one output path."""

    def __init__(self, output: Path):
        self.output = output
        self.partial_path = output.with_name(output.name + ".partial.jsonl")
        self.manifest_path = output.with_name(output.name + ".manifest.json")
        self.lock_path = output.with_name(output.name + ".lock")
        self._handle: IO[bytes] | None = None
        self._lock: IO[str] | None = None

    def side_files(self) -> dict[str, Path]:
        """The files a run writes next to its output, by role."""
        return {"progress": self.partial_path, "manifest": self.manifest_path, "lock": self.lock_path}

    # one writer ---------------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Make this process the only one writing this output; the OS drops the lock when it dies."""
        if self._lock is not None:
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ResumeError(
                f"another run ({holder}) is writing {self.output}; wait for it to finish or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        """Give up the output (the lock file stays; it is only ever locked, never trusted)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    # manifest -----------------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when there is none."""
        if not self.manifest_path.is_file():
            return None
        return dict(json.loads(self.manifest_path.read_text(encoding="utf-8")))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically."""
        _atomic_write_json(self.manifest_path, {"manifest_version": MANIFEST_VERSION, **manifest})

    def check_same_run(self, manifest: dict[str, Any], input_fp: Fingerprint, arms_sha256: str) -> None:
        """Refuse to resume progress made with another input or arms file."""
        problems = []
        if manifest.get("manifest_version") != MANIFEST_VERSION:
            problems.append(
                f"the manifest has version {manifest.get('manifest_version')}, not {MANIFEST_VERSION}"
            )
        recorded_input = manifest.get("input", {})
        if (recorded_input.get("size"), recorded_input.get("sha256")) != (input_fp.size, input_fp.sha256):
            problems.append("the input file changed since the run started (size or SHA-256 differ)")
        if manifest.get("arms_file", {}).get("sha256") != arms_sha256:
            problems.append("the arms file changed since the run started (SHA-256 differs)")
        if problems:
            raise ResumeError(
                f"cannot resume {self.output}: "
                + "; ".join(problems)
                + f". Rerun with --restart to discard the progress in {self.partial_path.name} and start "
                "over, or write to another --output."
            )

    # progress -----------------------------------------------------------------------------------------
    def recover(self) -> set[Key]:
        """Keys already done (transient failures are not); truncates the progress file at its first incomplete
        or unreadable line."""
        done: set[Key] = set()
        if not self.partial_path.is_file():
            return done
        good_until = 0
        with self.partial_path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # torn write: the process died mid-line
                try:
                    record = json.loads(line)
                    key = record_key(record)
                except (ValueError, KeyError, TypeError):
                    break
                if not is_retryable(record):
                    done.add(key)
                good_until += len(line)
        if good_until != self.partial_path.stat().st_size:
            with self.partial_path.open("r+b") as handle:
                handle.truncate(good_until)
        return done

    def open(self) -> None:
        """Open the progress file for appending."""
        if self._handle is None:
            self._handle = self.partial_path.open("ab")

    def append(self, record: dict[str, Any]) -> None:
        """Append one finished record as one line and flush it to the OS (survives ``kill -9``)."""
        if self._handle is None:
            self.open()
        assert self._handle is not None
        self._handle.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        self._handle.flush()

    def close(self) -> None:
        """Flush to disk and close the progress file."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()

    # finishing ----------------------------------------------------------------------------------------
    def _index(self, arm_order: Sequence[str]) -> list[tuple[int, int, int, int]]:
        """(row, arm position, offset, length) of each key's record, sorted: the first answer, else the
        last transient failure."""
        position = {name: i for i, name in enumerate(arm_order)}
        first: dict[Key, tuple[int, int]] = {}
        retryable: set[Key] = set()
        offset = 0
        with self.partial_path.open("rb") as handle:
            for line in handle:
                record = json.loads(line)
                key = record_key(record)
                if key not in first or key in retryable:
                    first[key] = (offset, len(line))
                    retryable.discard(key)
                    if is_retryable(record):
                        retryable.add(key)
                offset += len(line)
        return sorted(
            (row, position[arm], where, size)
            for (row, arm), (where, size) in first.items()
            if arm in position
        )

    def ordered_texts(self, arm_order: Sequence[str]) -> Iterator[str]:
        """Each key's first record, as JSON text, sorted by row then arm order."""
        index = self._index(arm_order)
        with self.partial_path.open("rb") as handle:
            for _, _, offset, size in index:
                handle.seek(offset)
                yield handle.read(size).decode("utf-8").rstrip("\n")

    def finalize(self, arm_order: Sequence[str]) -> int:
        """Write the sorted output atomically; returns the record count.

        The progress file stays until :meth:`discard_progress`, called once the manifest says complete: a
        crash in between leaves a run that resumes with nothing left to do, never one that starts over.
        """
        self.close()
        if not self.partial_path.exists():
            self.partial_path.touch()
        return write_output(self.ordered_texts(arm_order), self.output)

    def output_problem(self, manifest: dict[str, Any]) -> str | None:
        """What is wrong with the output of a finished run (missing, or not the file the run wrote), or None.

        Manifests written before the output's hash was recorded are trusted when the file exists."""
        recorded = manifest.get("output_file")
        if not self.output.is_file():
            return f"{self.output} is missing"
        if not isinstance(recorded, dict):
            return None
        size, digest = self.output.stat().st_size, _sha256(self.output)
        if (size, digest) != (recorded.get("size"), recorded.get("sha256")):
            return (
                f"{self.output} changed since the run completed (its size or SHA-256 differs from the "
                "manifest)"
            )
        return None

    def discard_progress(self) -> None:
        """Remove the progress file of a completed run."""
        self.partial_path.unlink(missing_ok=True)

    def reset(self) -> None:
        """Forget previous progress (``--restart``)."""
        self.close()
        self.partial_path.unlink(missing_ok=True)
        self.manifest_path.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def output_fingerprint(path: Path) -> Fingerprint:
    """Size and SHA-256 of a written output (recorded in the manifest)."""
    return Fingerprint(path.stat().st_size, _sha256(path))


def now_iso() -> str:
    """UTC timestamp for the manifest."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
