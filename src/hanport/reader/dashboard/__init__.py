"""The reader's web dashboard: server-rendered pages that read the reader's own HTTP API.

`install(app)` adds the pages and the static files to the reader's FastAPI app; the pages fetch
everything they show from `/api/...` in the browser, so the dashboard needs nothing but the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and static files to the reader's app."""
    STATIC_DIR.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def now_page() -> str:
        return (
            "<!doctype html><html lang='nb'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>hanport</title></head><body><h1>hanport</h1>"
            "<p>Dashbord / Dashboard</p></body></html>"
        )
