"""``create_app``: the JSON API under ``/api`` plus the dashboard pages.

Database endpoints are plain ``def`` so FastAPI runs them in its thread pool and a slow query
never stalls the live feed or the sources running on the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from sqlalchemy import Engine

from hanport import __version__
from hanport.reader.energy import DEFAULT_CAPACITY_STEPS, LOCAL_TZ, CapacityStep
from hanport.reader.live import LiveState
from hanport.reader.pipeline import Hub
from hanport.reader.storage import queries
from hanport.reader.storage.writer import Writer

__all__ = ["ReaderContext", "answer", "create_app"]


@dataclass(slots=True)
class ReaderContext:
    """What the API reads: the database, and when reading live, the hub, writer and MQTT."""

    engine: Engine
    live: LiveState | None = None
    hub: Hub | None = None
    writer: Writer | None = None
    steps: Sequence[CapacityStep] = DEFAULT_CAPACITY_STEPS
    mqtt_status: Callable[[], dict[str, Any]] | None = None
    started_at: float = field(default_factory=time.time)


def _csv(rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _today_start() -> float:
    today = dt.datetime.now(LOCAL_TZ).date()
    return dt.datetime(today.year, today.month, today.day, tzinfo=LOCAL_TZ).timestamp()


def _window(
    from_: str | None, to: str | None, default_start: Callable[[], float], default_span: float
) -> tuple[float, float]:
    try:
        start = queries.parse_time(from_) if from_ else default_start()
        end = queries.parse_time(to) if to else start + default_span
    except queries.QueryError as exc:
        raise HTTPException(422, str(exc)) from None
    if end <= start:
        raise HTTPException(422, "`to` må være etter `from` / `to` must be after `from`")
    return start, end


def health_report(ctx: ReaderContext) -> dict[str, Any]:
    now = time.time()
    issues: list[dict[str, str]] = []
    sources = [s.to_json(now) for s in ctx.hub.sources] if ctx.hub else []
    for s in sources:
        if s["last_frame_at"] is not None:
            last_frame_age = now - s["last_frame_at"]
            s["last_frame_at"] = dt.datetime.fromtimestamp(s["last_frame_at"], LOCAL_TZ).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        else:
            last_frame_age = None
        if s["kind"] == "file":
            continue
        if s["state"] == "retrying":
            issues.append({"level": "error", "message": f"{s['name']}: {s['detail']}"})
        elif last_frame_age is None or last_frame_age > 60:
            issues.append(
                {
                    "level": "warning",
                    "message": f"{s['name']}: ingen rammer siste minutt / "
                    "no frames in the last minute",
                }
            )
        total = s["frames_ok"] + s["crc_errors"] + s["undecodable"]
        if total >= 20 and (s["crc_errors"] + s["undecodable"]) / total > 0.1:
            issues.append(
                {
                    "level": "warning",
                    "message": f"{s['name']}: over 10 % forkastede rammer / over 10 % rejected "
                    "frames (check serial settings or keys)",
                }
            )
    try:
        database: dict[str, Any] = {"ok": True, **queries.database_health(ctx.engine)}
    except Exception as exc:
        database = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        issues.append({"level": "error", "message": f"database: {exc}"})
    if ctx.writer is not None:
        stats = ctx.writer.stats
        database["writer"] = {
            "pending": ctx.writer.pending,
            "flushes": stats.flushes,
            "readings_written": stats.readings_written,
            "last_error": stats.last_error,
        }
        if stats.last_error:
            issues.append(
                {
                    "level": "error",
                    "message": f"lagring feiler / storage failing: {stats.last_error}",
                }
            )
    mqtt = ctx.mqtt_status() if ctx.mqtt_status else {"enabled": False}
    if mqtt.get("enabled") and not mqtt.get("connected"):
        issues.append(
            {
                "level": "warning",
                "message": "MQTT: ikke tilkoblet / not connected "
                f"({mqtt.get('error') or 'connecting'})",
            }
        )
    return {
        "version": __version__,
        "uptime_s": round(now - ctx.started_at, 1),
        "sources": sources,
        "database": database,
        "mqtt": mqtt,
        "issues": issues,
    }


def _month_start() -> float:
    today = dt.datetime.now(LOCAL_TZ)
    return dt.datetime(today.year, today.month, 1, tzinfo=LOCAL_TZ).timestamp()


def _year_start() -> float:
    return dt.datetime(dt.datetime.now(LOCAL_TZ).year, 1, 1, tzinfo=LOCAL_TZ).timestamp()


#: energy endpoint kind -> (query, default window start, default window length in seconds)
ENERGY: dict[str, tuple[Callable[..., list[dict[str, Any]]], Callable[[], float], float]] = {
    "hours": (queries.hours_between, _today_start, 86400),
    "days": (queries.days_between, _month_start, 31 * 86400),
    "months": (queries.months_between, _year_start, 366 * 86400),
}


# The answers of the GET endpoints as plain data, shared by the endpoints and by the dashboard,
# which embeds a page's first answers in the page itself (no round trip before the first paint).


def meters_answer(ctx: ReaderContext) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return queries.list_meters(conn)


def now_answer(ctx: ReaderContext, meter_id: str | None = None) -> list[dict[str, Any]]:
    if ctx.live is not None:
        current = ctx.live.now(meter_id)
        if current:
            return current
    with ctx.engine.connect() as conn:
        return queries.now_from_db(conn, meter_id)


def energy_answer(
    ctx: ReaderContext, kind: str, from_: str | None, to: str | None, meter_id: str | None
) -> list[dict[str, Any]]:
    fetch, default_start, span = ENERGY[kind]
    start, end = _window(from_, to, default_start, span)
    with ctx.engine.connect() as conn:
        return fetch(conn, start, end, meter_id)


def tariff_answer(
    ctx: ReaderContext, month: str | None, meter_id: str | None
) -> list[dict[str, Any]]:
    month = month or dt.datetime.now(LOCAL_TZ).strftime("%Y-%m")
    try:
        with ctx.engine.connect() as conn:
            return queries.tariff_for_month(conn, month, ctx.steps, meter_id)
    except queries.QueryError as exc:
        raise HTTPException(422, str(exc)) from None


def readings_answer(
    ctx: ReaderContext, meter_id: str, from_: str | None, to: str | None, fields: str | None
) -> list[dict[str, Any]]:
    start, end = _window(from_, to, lambda: time.time() - 3600, 3600)
    field_list = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    try:
        with ctx.engine.connect() as conn:
            return queries.readings_between(conn, meter_id, start, end, field_list)
    except queries.QueryError as exc:
        raise HTTPException(422, str(exc)) from None


def recent_frames_answer(ctx: ReaderContext, limit: int = 20) -> list[dict[str, Any]]:
    if ctx.hub is not None:
        return [
            {
                **f,
                "received_at": dt.datetime.fromtimestamp(f["received_at"], LOCAL_TZ).strftime(
                    "%Y-%m-%dT%H:%M:%S"
                ),
            }
            for f in ctx.hub.recent_frames(limit)
        ]
    with ctx.engine.connect() as conn:
        return queries.recent_frames(conn, limit)


def answer(ctx: ReaderContext, path: str, params: Mapping[str, str]) -> Any:
    """What ``GET path?params`` answers as JSON (KeyError: no such endpoint; HTTPException:
    the endpoint would answer with that error)."""
    get = params.get
    if path == "/api/meters":
        return meters_answer(ctx)
    if path == "/api/now":
        return now_answer(ctx, get("meter_id"))
    if path.startswith("/api/") and path[5:] in ENERGY:
        return energy_answer(ctx, path[5:], get("from"), get("to"), get("meter_id"))
    if path == "/api/tariff":
        return tariff_answer(ctx, get("month"), get("meter_id"))
    if path == "/api/readings":
        return readings_answer(ctx, params["meter_id"], get("from"), get("to"), get("fields"))
    if path == "/api/health":
        return health_report(ctx)
    if path == "/api/frames/recent":
        return recent_frames_answer(ctx, int(params.get("limit", "20")))
    raise KeyError(path)


def create_app(ctx: ReaderContext | Engine, *, dashboard: bool = True) -> FastAPI:
    """The reader's web app over ``ctx`` (an engine alone serves a stored database)."""
    if not isinstance(ctx, ReaderContext):
        ctx = ReaderContext(engine=ctx)
    context = ctx
    app = FastAPI(
        title="hanport reader",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.reader = context

    @app.get("/api/meters", tags=["meters"])
    def get_meters() -> list[dict[str, Any]]:
        return meters_answer(context)

    @app.get("/api/now", tags=["live"])
    def get_now(meter_id: str | None = None) -> list[dict[str, Any]]:
        return now_answer(context, meter_id)

    def energy_endpoint(kind: str) -> Callable[..., Any]:
        def endpoint(
            from_: Annotated[str | None, Query(alias="from")] = None,
            to: str | None = None,
            meter_id: str | None = None,
            format: str = "json",
        ) -> Any:
            rows = energy_answer(context, kind, from_, to, meter_id)
            if format == "csv":
                return _csv(rows, f"hanport-{kind}.csv")
            return JSONResponse(rows)

        endpoint.__name__ = f"get_{kind}"
        return endpoint

    energy_doc = (
        "`[{meter_id, start, active_energy_import_kwh, active_energy_export_kwh, estimated}]`; "
        "`from`/`to` local YYYY-MM-DD[THH:MM:SS], `to` exclusive; `format=csv` for CSV."
    )
    for kind in ENERGY:
        app.get(f"/api/{kind}", tags=["energy"], description=energy_doc)(energy_endpoint(kind))

    @app.get("/api/tariff", tags=["energy"])
    def get_tariff(month: str | None = None, meter_id: str | None = None) -> list[dict[str, Any]]:
        return tariff_answer(context, month, meter_id)

    @app.get("/api/readings", tags=["readings"])
    def get_readings(
        meter_id: str,
        from_: Annotated[str | None, Query(alias="from")] = None,
        to: str | None = None,
        fields: str | None = None,
        format: str = "json",
    ) -> Any:
        rows = readings_answer(context, meter_id, from_, to, fields)
        if format == "csv":
            return _csv(rows, "hanport-readings.csv")
        return JSONResponse(rows)

    @app.get("/api/health", tags=["health"])
    def get_health() -> dict[str, Any]:
        return health_report(context)

    @app.get("/api/frames/recent", tags=["health"])
    def get_recent_frames(limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[dict[str, Any]]:
        return recent_frames_answer(context, limit)

    @app.get(
        "/api/live",
        tags=["live"],
        response_class=StreamingResponse,
        description=(
            'Server-Sent Events: first `event: status`, data `{"live": bool}` (false under '
            "`hanport serve`, which has no live source: the feed then ends), then "
            "`event: reading`, data the /api/now object of a meter."
        ),
    )
    async def get_live(request: Request) -> StreamingResponse:
        live = context.live

        async def events() -> AsyncIterator[str]:
            yield "retry: 3000\n\n"
            # say at once whether readings will follow, so a page need not guess from a feed
            # that ends empty (``hanport serve`` has no live source: nothing ever will)
            yield f"event: status\ndata: {json.dumps({'live': live is not None})}\n\n"
            if live is None:
                return
            # the current state first, so a page that opens shows values at once
            for now in live.now():
                yield f"event: reading\ndata: {json.dumps(now)}\n\n"
            queue = live.subscribe()
            try:
                while not await request.is_disconnected():
                    try:
                        now = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: reading\ndata: {json.dumps(now)}\n\n"
            finally:
                live.unsubscribe(queue)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    if dashboard:
        from hanport.reader.dashboard import install

        install(app)
    return app
