"""Reading a LoRA adapter folder without trusting it.

Every file is opened relative to the folder's descriptor with ``O_NOFOLLOW`` (no symlinks, no FIFOs: regular
files only), read up to a size cap, parsed and validated by pydantic models: ``adapter_config.json``
(:class:`LoraConfigFile`), ``adapter_card.json`` (:class:`AdapterCard`, which must carry the base model's
SHA-256) and the header of ``adapter_model.safetensors`` (tensor names and shapes). Whatever is wrong
becomes an :class:`AdapterError` naming the file and the field, never another exception.
"""

from __future__ import annotations

import json
import os
import re
import stat
import struct
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from core.errors import CreativeInputError

CONFIG = "adapter_config.json"
CARD = "adapter_card.json"
WEIGHTS = "adapter_model.safetensors"
MAX_JSON_BYTES = 64 << 10
MAX_WEIGHTS_HEADER_BYTES = 4 << 20
_LORA_WEIGHT = re.compile(r"^(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")

M = TypeVar("M", bound=BaseModel)
PositiveInt = Annotated[StrictInt, Field(ge=1)]
PositiveNumber = Annotated[StrictInt | StrictFloat, Field(gt=0)]
MetricValue = StrictBool | StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=200)] | None


class AdapterError(CreativeInputError):
    """An adapter cannot be registered or used (the message says why)."""


class LoraConfigFile(BaseModel):
    """The fields of peft's ``adapter_config.json`` the engine depends on (others are kept, unchecked)."""

    model_config = ConfigDict(extra="allow")

    peft_type: Literal["LORA"]
    r: PositiveInt
    lora_alpha: PositiveNumber = 8
    target_modules: list[StrictStr] | StrictStr = Field(min_length=1)
    rank_pattern: dict[str, PositiveInt] | None = None
    alpha_pattern: dict[str, PositiveNumber] | None = None
    modules_to_save: list[StrictStr] | None = None
    use_dora: Literal[False] = False
    bias: Literal["none"] = "none"

    @field_validator("modules_to_save")
    @classmethod
    def _no_full_modules(cls, value: list[str] | None) -> list[str] | None:
        if value:
            raise ValueError("must be empty: the engine serves LoRA weights only, not whole trained modules")
        return value

    @property
    def max_rank(self) -> int:
        """The largest rank of any module: ``r`` or a ``rank_pattern`` override."""
        return max([self.r, *(self.rank_pattern or {}).values()])


class AdapterCard(BaseModel):
    """The card our trainer writes; ``base_model_sha256`` is required, the rest is what listings show."""

    model_config = ConfigDict(extra="allow")

    base_model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    voice: StrictStr | None = Field(default=None, max_length=200)
    metrics: list[Annotated[dict[str, MetricValue], Field(max_length=64)]] = Field(
        default_factory=list, max_length=1000, description="Per-epoch figures: flat name → number."
    )
    created: StrictStr | None = Field(default=None, max_length=64)


@dataclass(frozen=True)
class AdapterFiles:
    """A validated adapter folder: its config, card and the trained modules and ranks its weights hold."""

    config: LoraConfigFile
    card: AdapterCard
    weight_modules: frozenset[str]
    weight_rank: int

    @property
    def rank(self) -> int:
        """The largest LoRA rank the config or the weights declare."""
        return max(self.config.max_rank, self.weight_rank)


def _invalid(message: str, code: str = "invalid_adapter") -> AdapterError:
    return AdapterError(message, param="path", code=code)


def _open_regular(folder_fd: int, name: str) -> int:
    """A descriptor for ``name`` in the folder: no symlink, no device or FIFO, only a regular file."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
    except FileNotFoundError:
        needs = " (it must carry base_model_sha256)" if name == CARD else ""
        raise _invalid(f"{name} is missing{needs}") from None
    except OSError:  # ELOOP for a symlink, EACCES, ...
        raise _invalid(f"{name} cannot be opened (symlinks are not followed)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _invalid(f"{name} is not a regular file")
    return fd


def _read_up_to(fd: int, size: int) -> bytes:
    """At most ``size`` bytes (fewer only at the end of the file)."""
    chunks, got = [], 0
    while got < size:
        chunk = os.read(fd, min(1 << 16, size - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_capped(fd: int, name: str, limit: int) -> bytes:
    data = _read_up_to(fd, limit + 1)
    if len(data) > limit:
        raise _invalid(f"{name} is over the limit of {limit} bytes", "adapter_file_too_large")
    return data


def _read_json(folder_fd: int, name: str) -> Any:
    fd = _open_regular(folder_fd, name)
    try:
        data = _read_capped(fd, name, MAX_JSON_BYTES)
    finally:
        os.close(fd)
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, or nested too deeply
        raise _invalid(f"{name} is not valid JSON") from None


def _validated(model: type[M], data: Any, name: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "(the whole file)"
        raise _invalid(f"{name}: {field}: {first['msg']}") from None


def _weights_header(folder_fd: int) -> dict[str, Any]:
    fd = _open_regular(folder_fd, WEIGHTS)
    try:
        prefix = _read_up_to(fd, 8)
        if len(prefix) < 8:
            raise _invalid(f"{WEIGHTS} is not a safetensors file")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_WEIGHTS_HEADER_BYTES:
            raise _invalid(
                f"{WEIGHTS}: header is over {MAX_WEIGHTS_HEADER_BYTES} bytes", "adapter_file_too_large"
            )
        raw = _read_up_to(fd, length)
    finally:
        os.close(fd)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise _invalid(f"{WEIGHTS}: the header is not valid JSON") from None
    if not isinstance(header, dict):
        raise _invalid(f"{WEIGHTS}: the header is not a JSON object")
    return header


def _weight_modules(header: dict[str, Any]) -> tuple[frozenset[str], int]:
    """(module names trained, largest rank) from the tensor names and ``lora_A`` shapes."""
    modules, rank = set(), 0
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        match = _LORA_WEIGHT.match(tensor)
        if match is None:
            raise _invalid(f"{WEIGHTS}: tensor {tensor!r} is not a LoRA A/B weight", "unsupported_adapter")
        modules.add(match["module"].rsplit(".", 1)[-1])
        shape = info.get("shape") if isinstance(info, dict) else None
        if not (isinstance(shape, list) and len(shape) == 2 and all(type(d) is int for d in shape)):
            raise _invalid(f"{WEIGHTS}: tensor {tensor!r} has no two-dimensional shape")
        rank = max(rank, shape[0] if match["part"] == "A" else shape[1])
    if not modules:
        raise _invalid(f"{WEIGHTS} holds no LoRA weights")
    return frozenset(modules), rank


def check_served_modules(files: AdapterFiles, served: Collection[str]) -> None:
    """Refuse an adapter that trains a module the engine does not serve LoRA on."""
    targets = files.config.target_modules
    if isinstance(targets, str):
        raise _invalid(
            f"{CONFIG}: target_modules: a pattern ({targets!r}) cannot be checked against the modules the "
            "engine serves LoRA on; list the module names",
            "unsupported_target_modules",
        )
    extra = sorted((set(targets) | files.weight_modules) - set(served))
    if extra:
        raise _invalid(
            f"{CONFIG}: target_modules: the adapter trains {', '.join(extra)}, which the engine does not "
            f"serve LoRA on (served: {', '.join(served)})",
            "unsupported_target_modules",
        )


def read_adapter_folder(path: Path) -> AdapterFiles:
    """Validated config, card and weight names of a peft adapter folder (``path`` is already resolved)."""
    try:
        folder_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise _invalid(f"{path.name} is not an adapter folder") from None
    try:
        config = _validated(LoraConfigFile, _read_json(folder_fd, CONFIG), CONFIG)
        card = _validated(AdapterCard, _read_json(folder_fd, CARD), CARD)
        modules, rank = _weight_modules(_weights_header(folder_fd))
    finally:
        os.close(folder_fd)
    return AdapterFiles(config, card, modules, rank)
