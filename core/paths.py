"""Where the service keeps its data: one home folder, ``ADCREATIVE_HOME``.

The home holds what the service writes or an operator adds: ``cache/`` (the prepared default model and
vLLM's cache), ``templates.db`` (the template registry's SQLite file) and ``adapters/`` (adapters registered
at start beside the shipped ones). Without ``ADCREATIVE_HOME`` it is ``var/`` in a source checkout and the
user's data folder for an installed package (``~/.local/share/adcreative`` on Linux), never the installed
package itself. What ships with the code (templates, adapters, the editor's page) is package data, read in
place and never written.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_VARIABLE = "ADCREATIVE_HOME"
APP_NAME = "adcreative"
SOURCE_ROOT = Path(__file__).resolve().parents[1]
_INSTALL_FOLDERS = {"site-packages", "dist-packages"}


def is_source_checkout(root: Path = SOURCE_ROOT) -> bool:
    """True when the code runs from a project checkout (editable install or plain clone), not a wheel."""
    return (root / "pyproject.toml").is_file() and not _INSTALL_FOLDERS.intersection(root.parts)


def default_home() -> Path:
    """``$ADCREATIVE_HOME``; else ``var/`` in a checkout; else the user's data folder for the app."""
    configured = os.environ.get(HOME_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    if is_source_checkout():
        return SOURCE_ROOT / "var"
    return platformdirs.user_data_path(APP_NAME)


def cache_dir_in(home: Path) -> Path:
    """The model and vLLM cache inside a home (safe to delete: it is rebuilt)."""
    return home / "cache"


def adapters_dir_in(home: Path) -> Path:
    """The folder of adapters an operator adds, loaded at start beside the shipped ones."""
    return home / "adapters"


def templates_db_in(home: Path) -> Path:
    """The template registry's default SQLite file (marketers' versions: data, never cache)."""
    return home / "templates.db"


def sqlite_url_in(home: Path) -> str:
    """The default database (registry and experiments): a SQLite file in the home, zero set-up."""
    return f"sqlite:///{templates_db_in(home)}"
