"""The API as ``make serve`` runs it (``python -m api`` in a subprocess), for the HTTP benchmarks.

:class:`ApiProcess` starts the server on a free loopback port with an empty temporary template registry,
waits for ``/health`` 200, reports the resident memory of the server and its vLLM child processes, and
stops the whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from core.paths import SOURCE_ROOT


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rss_proc(pid: int) -> tuple[int, list[int]]:
    """(RSS bytes, child pids) of ``pid`` from /proc (when psutil is missing)."""
    rss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children += [int(c) for c in text]
    return rss, children


def tree_rss(pid: int) -> dict[str, int]:
    """Resident memory of ``pid`` and of all its descendants (vLLM's engine core and worker), in bytes."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        parent = psutil.Process(pid)
        children = parent.children(recursive=True)
        own = parent.memory_info().rss
        kids = 0
        for child in children:
            with contextlib.suppress(psutil.Error):
                kids += child.memory_info().rss
        return {"api_process": own, "children": kids, "total": own + kids, "child_processes": len(children)}
    own, pending = _rss_proc(pid)
    kids, count = 0, 0
    while pending:
        rss, more = _rss_proc(pending.pop())
        kids, count = kids + rss, count + 1
        pending += more
    return {"api_process": own, "children": kids, "total": own + kids, "child_processes": count}


class ApiProcess:
    """``python -m api`` on a free port with a fresh registry; a context manager that stops it."""

    def __init__(self, env: dict[str, str] | None = None, log_level: str = "WARNING"):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-api-")
        self.log = Path(self._tmp.name) / "server.log"
        self.env = {
            **os.environ,
            "ADCREATIVE_HOST": "127.0.0.1",
            "ADCREATIVE_PORT": str(self.port),
            "ADCREATIVE_TEMPLATES_DB_URL": f"sqlite:///{Path(self._tmp.name) / 'templates.db'}",
            "ADCREATIVE_LOG_LEVEL": log_level,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            **(env or {}),
        }
        for name in ("ADCREATIVE_API_KEYS", "ADCREATIVE_API_KEYS_FILE", "ADCREATIVE_ALLOWED_HOSTS"):
            if name not in (env or {}):
                self.env.pop(name, None)  # open on loopback, default hosts: the first-run setup
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def __enter__(self) -> ApiProcess:
        with self.log.open("wb") as log:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api"],
                cwd=SOURCE_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: stop() ends the engine processes too
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()

    def logs(self, tail: int = 4000) -> str:
        """The end of the server's output."""
        return self.log.read_text("utf-8", errors="replace")[-tail:]

    def wait_healthy(self, timeout: float = 600.0) -> float:
        """Poll ``/health`` until 200; seconds since the process was started."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"python -m api exited with {self.process.returncode}:\n{self.logs()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/health", timeout=5).status_code == 200:
                    return time.perf_counter() - self.started_at
            time.sleep(0.1)
        raise RuntimeError(f"/health not 200 within {timeout:.0f} s:\n{self.logs()}")

    def rss(self) -> dict[str, int]:
        """Resident memory of the server and its engine processes, in bytes."""
        assert self.process is not None
        return tree_rss(self.process.pid)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what is left after 30 s."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # engine children that outlived their parent
            os.killpg(process.pid, signal.SIGKILL)
