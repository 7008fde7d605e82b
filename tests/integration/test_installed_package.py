"""The project installed as a wheel (``pip install .``, not editable) serves from outside the checkout and
writes nothing into site-packages: its data goes to the user's data folder, the shipped templates and
adapters are read as package data, and the first start prepares the default model itself.

The machine is offline, so the fresh virtual environment borrows the *dependencies* from the test
environment through a ``.pth`` line (their own ``.pth`` files, the editable install's among them, are not
processed, so the checkout stays off the path); the project itself is built and installed for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.paths import SOURCE_ROOT
from tests.support.server import Server, free_port, stop

pytestmark = pytest.mark.integration

PACKAGES = ("core", "creative", "ranking", "prompts", "experiments", "api", "grouped_lora")
START_TIMEOUT_S = 420.0  # model preparation (~30 s) + engine and ranker start, on a busy 2-core machine
Snapshot = dict[str, tuple[int, int]]


def _source_copy(destination: Path) -> Path:
    """What a release tarball holds: the packages, pyproject.toml and the README (no caches, no var/)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGES:
        shutil.copytree(SOURCE_ROOT / name, destination / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(SOURCE_ROOT / name, destination / name)
    return destination


def _site_packages(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def _snapshot(folder: Path) -> Snapshot:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project's wheel (built from a source copy) installed; its python."""
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    borrowed = sysconfig.get_paths()["purelib"]
    (_site_packages(venv) / "_borrowed_dependencies.pth").write_text(borrowed + "\n", encoding="utf-8")
    source = _source_copy(root / "src")
    wheels = root / "wheels"
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-index",
        "--no-deps",
        "--no-build-isolation",
    ]
    subprocess.run([*build, "--wheel-dir", str(wheels), str(source)], check=True, timeout=300)
    (wheel,) = wheels.glob("adcreative-*.whl")
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, timeout=300)
    return python


@pytest.fixture
def installed_server(installed: Path, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """``python -m api`` from the installed package, started in an empty folder with an empty $HOME."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADCREATIVE_") and k != "XDG_DATA_HOME"}
    port = free_port()
    env |= {
        "HOME": str(home),
        "ADCREATIVE_PORT": str(port),
        "ADCREATIVE_KV_CACHE_BYTES": str(128 << 20),
        "ADCREATIVE_MAX_NUM_SEQS": "8",
        "ADCREATIVE_MAX_OUTPUT_TOKENS": "64",
        "ADCREATIVE_MAX_REGENERATIONS": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(installed), "-m", "api"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        yield Server(process, f"http://127.0.0.1:{port}", log), home
    finally:
        stop(process)


def test_the_installed_package_serves_and_writes_nothing_into_site_packages(
    installed: Path, installed_server: tuple[Server, Path], sample_request: dict[str, Any]
) -> None:
    server, home = installed_server
    site_packages = _site_packages(installed.parents[1])
    probe = "import creative, core.paths as p; print(creative.__file__, p.default_home())"
    bare_env = {k: v for k, v in os.environ.items() if not k.startswith("ADCREATIVE_")} | {"HOME": str(home)}
    where = subprocess.run(
        [str(installed), "-c", probe], cwd=home, env=bare_env, capture_output=True, text=True, check=True
    ).stdout.split()
    data_home = home / ".local" / "share" / "adcreative"
    assert Path(where[0]).is_relative_to(site_packages)  # the wheel, not the checkout
    assert Path(where[1]) == data_home
    before = _snapshot(site_packages)

    server.wait_healthy(START_TIMEOUT_S)
    adapters = httpx.get(f"{server.base_url}/v1/adapters", timeout=30).json()
    sample_request.update(n=2, k=1, seed=7)
    answer = httpx.post(f"{server.base_url}/v1/creatives", json=sample_request, timeout=240)
    stop(server.process)

    assert answer.status_code == 200, f"{answer.status_code} {answer.text}\n{server.logs()}"
    assert answer.json()["adapter"] == "house" and answer.json()["template"]["ref"] == "google_search@1"
    assert [adapter["name"] for adapter in adapters["data"]] == ["house", "playful", "premium"]
    assert (data_home / "templates.db").is_file()
    assert (data_home / "cache" / "models" / "smollm2-135m-instruct" / "manifest.json").is_file()
    assert _snapshot(site_packages) == before, "the server wrote into site-packages"
