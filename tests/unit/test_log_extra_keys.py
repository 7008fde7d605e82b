"""No ``extra=`` key may collide with a LogRecord attribute: ``makeRecord`` raises KeyError on it, but only
when the level is enabled, so a DEBUG-level or a first-run-only log line can hide the crash for a long time.

This scans every module of the project for ``logger.<level>(..., extra=...)`` calls and checks the keys of
dict literals given directly or through a local variable (also ``extra["key"] = ...`` assignments).
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "core", "creative", "grouped_lora", "prompts", "ranking", "bench")
# this Python's LogRecord attributes, plus those of newer ones (taskName: 3.12) and the two Formatter adds
RESERVED = frozenset(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _dict_keys(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Dict):
        return [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return [kw.arg for kw in node.keywords if kw.arg is not None]
    return []


def _keys_of_variable(scope: ast.AST, name: str) -> list[str]:
    """Keys a local dict variable gets: from its assignments and from ``name["key"] = ...``."""
    keys: list[str] = []
    for node in ast.walk(scope):
        targets: list[ast.expr] = []
        value: ast.AST | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name and value is not None:
                keys += _dict_keys(value)
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id == name
                and isinstance(target.slice, ast.Constant)
                and isinstance(target.slice.value, str)
            ):
                keys.append(target.slice.value)
    return keys


def extra_keys(source: str) -> list[tuple[int, str]]:
    """``(line, key)`` for every key passed as ``extra=`` to a logging call in ``source``."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LOG_METHODS:
            continue
        for keyword in node.keywords:
            if keyword.arg != "extra":
                continue
            keys = _dict_keys(keyword.value)
            if isinstance(keyword.value, ast.Name):
                enclosing = [s for s in scopes if s.lineno <= node.lineno <= (s.end_lineno or s.lineno)]
                scope = enclosing[-1] if enclosing else tree
                keys = _keys_of_variable(scope, keyword.value.id)
            found += [(node.lineno, key) for key in keys]
    return found


def test_the_scan_sees_extra_keys_and_reserved_names() -> None:
    source = (
        "def f(logger, n):\n"
        "    logger.info('a', extra={'created': n})\n"
        "    extra = {'ok': 1}\n"
        "    extra['module'] = 2\n"
        "    logger.debug('b', extra=extra)\n"
    )
    assert extra_keys(source) == [(2, "created"), (5, "ok"), (5, "module")]
    assert {"created", "name", "msg", "args", "module", "message", "asctime", "taskName"} <= RESERVED


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_log_call_passes_a_reserved_logrecord_attribute(path: Path) -> None:
    clashes = [(line, key) for line, key in extra_keys(path.read_text("utf-8")) if key in RESERVED]
    assert not clashes, f"{path.relative_to(ROOT)}: extra= keys clash with LogRecord attributes: {clashes}"


def test_the_writers_spread_stats_do_not_clash() -> None:
    from core.schema import GenerationStats  # spread into the writer's log line with **

    assert not set(GenerationStats.model_fields) & RESERVED
