"""``python -m api`` as ``make serve`` runs it, on a fresh machine: an empty template registry, INFO logs.

No other test starts the server the way a user does; this one caught the first-run crash (a log line whose
``extra`` key collided with a LogRecord attribute, raised only when the shipped templates are imported into
an empty registry with INFO logging on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import Server, free_port, stop

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ANSWER_TIMEOUT_S = 240.0


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
