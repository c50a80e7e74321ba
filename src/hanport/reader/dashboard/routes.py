"""Dashboard pages: the shell, navigation and texts are rendered here; data comes from the API."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import Scope

from hanport import __version__
from hanport.reader.dashboard.i18n import COOKIE_NAME, LANGUAGES, TEXTS, choose_language
from hanport.reader.dashboard.periods import VIEWS, PeriodError, parse_anchor, period_for

HERE: Final = Path(__file__).parent
STATIC_DIR: Final = HERE / "static"
VENDOR_DIR: Final = STATIC_DIR / "vendor"
# Meter clocks and API times are Norwegian local time; "today" must be Oslo's today, not the host's.
LOCAL_ZONE: Final = ZoneInfo("Europe/Oslo")
ONE_YEAR_S: Final = 365 * 24 * 3600

templates = Jinja2Templates(directory=HERE / "templates")


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


def _today() -> date:
    return datetime.now(LOCAL_ZONE).date()


def _render(request: Request, page: str, status_code: int = 200, **context: Any) -> Response:
    language = choose_language(
        request.cookies.get(COOKIE_NAME), request.headers.get("accept-language")
    )
    texts = TEXTS[language]
    other = next(code for code in LANGUAGES if code != language)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = templates.TemplateResponse(
        request,
        f"{page}.html",
        {
            "page": page,
            "lang": language,
            "t": texts,
            "texts_json": json.dumps(texts, ensure_ascii=False),
            "pages": PAGES,
            "switch_url": "/lang/" + other + "?" + urlencode({"next": here}),
            "today": _today().isoformat(),
            "vendor_ready": (VENDOR_DIR / "uPlot.iife.min.js").exists(),
            "asset_version": request.app.state.dashboard_asset_version,
            "preload": (),
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
    return _render(request, "now", preload=(*_PRELOAD_METERS, "/api/now"))


@router.get("/today")
async def today_page(request: Request) -> Response:
    return _render(request, "today", preload=_PRELOAD_METERS)


@router.get("/history")
async def history_page(request: Request, view: str = "day", date: str | None = None) -> Response:
    try:
        period = period_for(view, parse_anchor(date, _today()))
    except PeriodError as error:
        # Unknown view or malformed date: say so on the page and offer today's day view.
        return _render(request, "history", status_code=400, error=str(error), period=None)
    return _render(request, "history", period=period, views=VIEWS, preload=_PRELOAD_METERS)


@router.get("/health")
async def health_page(request: Request) -> Response:
    return _render(request, "health", preload=("/api/health", "/api/frames/recent?limit=20"))


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
