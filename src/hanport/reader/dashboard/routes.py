"""Dashboard pages: the shell, navigation and texts are rendered here; data comes from the API.

A page also carries the API's answers to its first calls (first_answers.py, with the same
functions the API's routes call), so it draws without waiting for round trips; later refreshes
ask the API.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from hanport import __version__
from hanport.reader.api import ReaderContext
from hanport.reader.dashboard.cost_panel import cost_panel
from hanport.reader.dashboard.first_answers import (
    Plan,
    first_answers,
    health_plan,
    history_plan,
    now_plan,
    server_today,
    today_plan,
)
from hanport.reader.dashboard.i18n import (
    COOKIE_NAME,
    LANGUAGE_NAMES,
    LANGUAGES,
    choose_language,
    script_texts,
    templates,
)
from hanport.reader.dashboard.periods import VIEWS, PeriodError, parse_anchor, period_for

HERE: Final = Path(__file__).parent
STATIC_DIR: Final = HERE / "static"
VENDOR_DIR: Final = STATIC_DIR / "vendor"
ONE_YEAR_S: Final = 365 * 24 * 3600


def _asset_version() -> str:
    """Changes whenever a static file does (an upgrade, `make assets`), so browsers may keep
    the files for a year and still never run an old script against a new page."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(
                f"{path.relative_to(STATIC_DIR)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
            )
    return digest.hexdigest()[:12]


class _VersionedStaticFiles(StaticFiles):
    """Static files cached for a year when asked for with the current `?v=`, else revalidated."""

    def __init__(self, version: str) -> None:
        super().__init__(directory=STATIC_DIR)
        self.version = version

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = f"v={self.version}".encode() in scope.get("query_string", b"")
        if response.status_code == 200:
            response.headers["Cache-Control"] = (
                "public, max-age=31536000, immutable" if versioned else "no-cache"
            )
        return response


#: (path, page name, nav text key) in the order the navigation shows them
PAGES: Final = (
    ("/", "now", "nav_now"),
    ("/today", "today", "nav_today"),
    ("/history", "history", "nav_history"),
    ("/health", "health", "nav_health"),
)


def _embed_json(value: Any) -> str:
    # Inside <script> a "</script>" in the data would end the block: escape what HTML parses.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


async def _page(request: Request, page: str, plan: Plan, **context: Any) -> Response:
    """A page with the answers to its first API calls, when this app serves the API too."""
    reader: ReaderContext | None = getattr(request.app.state, "reader", None)
    preload: tuple[str, ...] = tuple(context.pop("preload", ()))
    # the API's functions query the database: off the event loop, like the API's endpoints
    answers, planned = await run_in_threadpool(first_answers, reader, plan)
    # what is embedded needs no preload (an unused preload is a console warning)
    preload = tuple(url for url in preload if url not in answers)
    return _render(
        request, page, preload=preload, initial_json=_embed_json(answers), **context, **planned
    )


def _render(request: Request, page: str, status_code: int = 200, **context: Any) -> Response:
    language = choose_language(
        request.cookies.get(COOKIE_NAME), request.headers.get("accept-language")
    )
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = templates(language).TemplateResponse(
        request,
        f"{page}.html",
        {
            "page": page,
            "lang": language,
            "texts_json": _embed_json(script_texts(language)),
            "pages": PAGES,
            "languages": LANGUAGE_NAMES,
            "switch_urls": {
                code: f"/lang/{code}?" + urlencode({"next": here}) for code in LANGUAGE_NAMES
            },
            "today": server_today().isoformat(),
            "vendor_ready": (VENDOR_DIR / "uPlot.iife.min.js").exists(),
            "asset_version": request.app.state.dashboard_asset_version,
            "preload": (),
            "initial_json": "{}",
            **context,
        },
        status_code=status_code,
    )
    # Pages are cheap shells; never serve a stale one after an upgrade or a language switch.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


router = APIRouter(include_in_schema=False)


#: what each page asks the API for first (the exact URLs its scripts fetch)
_PRELOAD_METERS = ("/api/meters",)


@router.get("/")
async def now_page(request: Request) -> Response:
    return await _page(request, "now", now_plan(request), preload=(*_PRELOAD_METERS, "/api/now"))


@router.get("/today")
async def today_page(request: Request) -> Response:
    # the cost card: configured or not, and the cheapest hours ahead (a database query)
    panel = await run_in_threadpool(cost_panel, getattr(request.app.state, "reader", None))
    return await _page(request, "today", today_plan(request), preload=_PRELOAD_METERS, **panel)


@router.get("/history")
async def history_page(request: Request, view: str = "day", date: str | None = None) -> Response:
    try:
        # checked here, against any day: the meter's day is known only after a query
        period_for(view, parse_anchor(date, server_today()))
    except PeriodError as error:
        # Unknown view or malformed date: say so on the page and offer today's day view.
        return _render(request, "history", status_code=400, error=error, period=None)
    plan = history_plan(request, lambda meter_day: period_for(view, parse_anchor(date, meter_day)))
    return await _page(request, "history", plan, views=VIEWS, preload=_PRELOAD_METERS)


@router.get("/health")
async def health_page(request: Request) -> Response:
    return await _page(
        request,
        "health",
        health_plan(request),
        preload=("/api/health", "/api/frames/recent?limit=20"),
    )


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    # Browsers ask for /favicon.ico by themselves, also for pages that are not the dashboard's
    # (the API's JSON, /docs): without it each visit logs a 404, in the reader and the console.
    return Response(
        (STATIC_DIR / "favicon.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": f"public, max-age={ONE_YEAR_S // 365}"},
    )


@router.get("/lang/{code}")
async def switch_language(code: str, next: str = "/") -> Response:
    # Only same-site paths: "//host" or "https://…" would make this an open redirect.
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if code in LANGUAGES:
        response.set_cookie(COOKIE_NAME, code, max_age=ONE_YEAR_S, samesite="lax")
    return response


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and static files to the reader's app."""
    STATIC_DIR.mkdir(exist_ok=True)
    version = _asset_version()
    app.state.dashboard_asset_version = version
    app.include_router(router)
    app.mount("/static", _VersionedStaticFiles(version), name="static")
