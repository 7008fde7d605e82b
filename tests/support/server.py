"""A ``python -m api`` subprocess started the way users start it, for the tests that need a real server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 240.0  # engine + ranker start: ~30 s on 2 idle cores, more on a busy machine


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and its vLLM engine processes (its whole process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # engine children that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)


class Server:
    """A running ``python -m api`` subprocess and its log file."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path):
        self.process, self.base_url, self.log = process, base_url, log

    def logs(self, tail: int = 6000) -> str:
        """The end of the server's stderr."""
        return self.log.read_text("utf-8", errors="replace")[-tail:]

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> httpx.Response:
        """Poll ``/health`` until 200; fail with the server's stderr when it exits or times out."""
        deadline = time.monotonic() + timeout
        last: str = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"`python -m api` exited with {self.process.returncode}:\n{self.logs()}")
            try:
                response = httpx.get(f"{self.base_url}/health", timeout=5)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    return response
                last = f"{response.status_code} {response.text}"
            time.sleep(1)
        pytest.fail(f"/health not 200 within {timeout:.0f} s (last: {last}); server stderr:\n{self.logs()}")
