"""``GET /ui/templates`` (the template editor) and ``GET /ui/experiments`` (the experiments' readouts): small
static apps (HTML + vanilla JS + CSS, no build step).

The page talks to the JSON API only (``/v1/templates…``, ``/v1/placements``); its assets are served from
``/ui/static``. A strict Content-Security-Policy keeps everything same-origin (the machine may be offline,
and template text and generated copy are never executed: the page only sets them as text).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_PREFIX = "/ui/static"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    """A static page with the strict CSP, never cached."""
    return FileResponse(
        STATIC_DIR / name,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
    )


@router.get("/ui/templates")
async def template_editor() -> FileResponse:
    """The editor page."""
    return _page("templates.html")


@router.get("/ui/experiments")
async def experiments_page() -> FileResponse:
    """The experiments page: the list, a readout and CTR over time."""
    return _page("experiments.html")


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    """``/ui`` opens the editor."""
    return RedirectResponse("/ui/templates")


def static_files() -> StaticFiles:
    """The editor's script and stylesheet (mounted at :data:`STATIC_PREFIX`)."""
    return StaticFiles(directory=STATIC_DIR)
