"""``python -m api`` as ``make serve`` runs it, on a fresh machine: an empty template registry, INFO logs.

No other test starts the server the way a user does; this one caught the first-run crash (a log line whose
``extra`` key collided with a LogRecord attribute, raised only when the shipped templates are imported into
an empty registry with INFO logging on).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 240.0  # engine + ranker start: ~30 s on 2 idle cores, more on a busy machine
ANSWER_TIMEOUT_S = 240.0


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``python -m api`` on a free loopback port with an empty registry and INFO logging."""
    port = free_port()
    env = {
        **os.environ,
        "ADCREATIVE_HOST": "127.0.0.1",
        "ADCREATIVE_PORT": str(port),
        "ADCREATIVE_TEMPLATES_DB_URL": f"sqlite:///{tmp_path / 'fresh' / 'templates.db'}",
        "ADCREATIVE_LOG_LEVEL": "INFO",
        "ADCREATIVE_LOG_FORMAT": "json",
        # small limits, so it starts and answers fast on 2 CPU cores
        "ADCREATIVE_KV_CACHE_BYTES": str(128 << 20),
        "ADCREATIVE_MAX_NUM_SEQS": "8",
        "ADCREATIVE_MAX_N": "2",
        "ADCREATIVE_DEFAULT_N": "2",
        "ADCREATIVE_DEFAULT_K": "1",
        "ADCREATIVE_MAX_OUTPUT_TOKENS": "64",
        "ADCREATIVE_MAX_REGENERATIONS": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    for name in ("ADCREATIVE_API_KEYS", "ADCREATIVE_API_KEYS_FILE", "ADCREATIVE_ALLOWED_HOSTS"):
        env.pop(name, None)  # the user's first run: no keys, default hosts
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "api"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # its own process group: stop() kills the engine processes too
        )
    try:
        yield Server(process, f"http://127.0.0.1:{port}", log)
    finally:
        stop(process)


def test_python_m_api_starts_on_an_empty_registry_and_answers(
    server: Server, sample_request: dict[str, Any]
) -> None:
    health = server.wait_healthy()
    assert health.json()["status"] == "ready"
    sample_request.update(n=2, k=1, seed=7)
    try:
        response = httpx.post(
            f"{server.base_url}/v1/creatives", json=sample_request, timeout=ANSWER_TIMEOUT_S
        )
    except httpx.TimeoutException:
        pytest.fail(
            f"POST /v1/creatives: no answer within {ANSWER_TIMEOUT_S:.0f} s; server:\n{server.logs()}"
        )
    assert response.status_code == 200, f"{response.status_code} {response.text}\n{server.logs()}"
    body = response.json()
    assert body["template"]["ref"] == "google_search@1" and body["template"]["label"] == "production"
    assert body["stats"]["requested"] == 2
    lines = [json.loads(line) for line in server.logs(200_000).splitlines() if line.startswith("{")]
    imported = [line for line in lines if line.get("message") == "imported shipped templates"]
    assert imported and "google_search@1" in imported[0]["templates"], server.logs()
    assert not [line for line in lines if line.get("level") in {"ERROR", "CRITICAL"}], server.logs()
