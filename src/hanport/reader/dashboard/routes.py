"""Dashboard pages: the shell, navigation and texts are rendered here; data comes from the API.

A page also carries the API's answers to its first calls (rendered by the same functions the API
uses), so it draws without waiting for round trips; later refreshes ask the API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from hanport import __version__
from hanport.reader.dashboard.i18n import (
    COOKIE_NAME,
    LANGUAGE_NAMES,
    LANGUAGES,
    choose_language,
    script_texts,
    templates,
)
from hanport.reader.dashboard.periods import VIEWS, Period, PeriodError, parse_anchor, period_for
from hanport.reader.web.app import ReaderContext, answer

HERE: Final = Path(__file__).parent
STATIC_DIR: Final = HERE / "static"
VENDOR_DIR: Final = STATIC_DIR / "vendor"
# Meter clocks and API times are Norwegian local time; "today" must be Oslo's today, not the host's.
LOCAL_ZONE: Final = ZoneInfo("Europe/Oslo")
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


def _today() -> date:
    return datetime.now(LOCAL_ZONE).date()


#: an API call as the page's scripts make it: path and query parameters
Call = tuple[str, dict[str, str]]


def call_key(path: str, params: Mapping[str, str]) -> str:
    """The key of a call in the embedded answers; common.js builds the same from its arguments."""
    query = "&".join(f"{key}={params[key]}" for key in sorted(params))
    return f"{path}?{query}" if query else path


def _embed_json(value: Any) -> str:
    # Inside <script> a "</script>" in the data would end the block: escape what HTML parses.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _initial_answers(
    reader: ReaderContext, first: Callable[[Callable[[Call], Any]], list[Call]]
) -> dict[str, Any]:
    """The answers to a page's first calls. `first` lists them and may ask for answers it needs
    to know the next calls (the meter, the latest reading's time). A call the API would answer
    with an error is left out: the page then asks the API itself and shows that error."""
    answers: dict[str, Any] = {}

    def ask(call: Call) -> Any:
        key = call_key(*call)
        if key not in answers:
            answers[key] = answer(reader, *call)
        return answers[key]

    # Whatever fails here (a bad query, a database down) the page still renders: its scripts
    # then ask the API themselves and show the API's error.
    try:
        calls = first(ask)
    except Exception:
        return answers
    for call in calls:
        try:
            ask(call)
        except Exception:
            answers.pop(call_key(*call), None)
    return answers


def _default_meter(request: Request, ask: Callable[[Call], Any]) -> str | None:
    """The meter common.js's chooseMeter shows when the browser remembers none: ?meter=, else
    the one heard from last. (A browser remembering another meter asks the API itself.)"""
    chosen = request.query_params.get("meter")
    if chosen:
        return chosen
    meters = sorted(ask(("/api/meters", {})), key=lambda m: m["last_seen"] or "", reverse=True)
    return str(meters[0]["meter_id"]) if meters else None


def _now_calls(request: Request, ask: Callable[[Call], Any]) -> list[Call]:
    calls: list[Call] = [("/api/meters", {}), ("/api/now", {})]
    meter = _default_meter(request, ask)
    if meter is None:
        return calls
    calls.append(("/api/tariff", {"month": _today().isoformat()[:7], "meter_id": meter}))
    reading = next((r for r in ask(("/api/now", {})) if r["meter_id"] == meter), None)
    to = reading and (reading.get("at") or reading.get("received_at"))
    if to:
        # now.js seeds its chart with the quarter of an hour before the latest reading
        since = (datetime.fromisoformat(to[:19]) - timedelta(minutes=15)).isoformat()
        fields = "active_power_import_w,active_power_export_w"
        calls.append(
            ("/api/readings", {"meter_id": meter, "from": since, "to": to, "fields": fields})
        )
    return calls


def _today_calls(request: Request, ask: Callable[[Call], Any]) -> list[Call]:
    meter = _default_meter(request, ask)
    if meter is None:
        return [("/api/meters", {})]
    today = _today()
    window = {"from": f"{today}T00:00:00", "to": f"{today + timedelta(days=1)}T00:00:00"}
    return [
        ("/api/meters", {}),
        ("/api/hours", {**window, "meter_id": meter}),
        ("/api/tariff", {"month": today.isoformat()[:7], "meter_id": meter}),
    ]


def _history_calls(period: Period) -> Callable[[Request, Callable[[Call], Any]], list[Call]]:
    def calls(request: Request, ask: Callable[[Call], Any]) -> list[Call]:
        meter = _default_meter(request, ask)
        if meter is None:
            return [("/api/meters", {})]
        endpoint = f"/api/{period.endpoint}"

        def window(start: date, end: date) -> dict[str, str]:
            return {"from": f"{start}T00:00:00", "to": f"{end}T00:00:00", "meter_id": meter}

        result: list[Call] = [
            ("/api/meters", {}),
            (endpoint, window(period.start, period.end)),
            (endpoint, window(period.previous_start, period.previous_end)),
        ]
        if period.view == "day":
            fields = "voltage_l1_v,voltage_l2_v,voltage_l3_v"
            result.append(("/api/readings", {**window(period.start, period.end), "fields": fields}))
        return result

    return calls


def _health_calls(_request: Request, _ask: Callable[[Call], Any]) -> list[Call]:
    return [("/api/health", {}), ("/api/frames/recent", {"limit": "20"})]


async def _page(
    request: Request,
    page: str,
    calls: Callable[[Request, Callable[[Call], Any]], list[Call]],
    **context: Any,
) -> Response:
    """A page with the answers to its first API calls, when this app serves the API too."""
    reader: ReaderContext | None = getattr(request.app.state, "reader", None)
    preload: tuple[str, ...] = tuple(context.pop("preload", ()))
    answers: dict[str, Any] = {}
    if reader is not None:
        # plain functions querying the database: off the event loop, like the API's endpoints
        answers = await run_in_threadpool(_initial_answers, reader, lambda ask: calls(request, ask))
        # what is embedded needs no preload (an unused preload is a console warning)
        preload = tuple(url for url in preload if url not in answers)
    return _render(request, page, preload=preload, initial_json=_embed_json(answers), **context)


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
            "today": _today().isoformat(),
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
    return await _page(request, "now", _now_calls, preload=(*_PRELOAD_METERS, "/api/now"))


@router.get("/today")
async def today_page(request: Request) -> Response:
    return await _page(request, "today", _today_calls, preload=_PRELOAD_METERS)


@router.get("/history")
async def history_page(request: Request, view: str = "day", date: str | None = None) -> Response:
    try:
        period = period_for(view, parse_anchor(date, _today()))
    except PeriodError as error:
        # Unknown view or malformed date: say so on the page and offer today's day view.
        return _render(request, "history", status_code=400, error=str(error), period=None)
    return await _page(
        request,
        "history",
        _history_calls(period),
        period=period,
        views=VIEWS,
        preload=_PRELOAD_METERS,
    )


@router.get("/health")
async def health_page(request: Request) -> Response:
    return await _page(
        request, "health", _health_calls, preload=("/api/health", "/api/frames/recent?limit=20")
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
