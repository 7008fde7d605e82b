"""Output files that never destroy an input and survive a crash: same-file checks and durable renames."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class SameFileError(ValueError):
    """An output path names an input file (the message says which)."""


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (symlinks and hard links included),
    else the same path once resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def refuse_overwrite(outputs: Iterable[tuple[str, Path]], inputs: Iterable[tuple[str, Path]]) -> None:
    """Raise :class:`SameFileError` when an output (what, path) is the same file as an input (what, path)."""
    inputs = list(inputs)
    for out_name, out_path in outputs:
        for in_name, in_path in inputs:
            if same_file(out_path, in_path):
                raise SameFileError(
                    f"{out_name} {out_path} is the same file as {in_name} {in_path}; refusing to write "
                    "over an input: choose another --output"
                )


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename is durable only once its folder is)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_files(folder: Path) -> None:
    """Flush every regular file directly in ``folder``, then the folder itself (before renaming it)."""
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(folder)


def replace_durably(source: Path, target: Path) -> None:
    """Rename ``source`` over ``target`` atomically, then fsync the folder so the rename survives a crash."""
    os.replace(source, target)
    fsync_dir(target.parent)
