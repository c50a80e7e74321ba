"""The JSON API's routes under ``/api`` (docs/CONTRACTS.md §4), defined at import time.

Each handler parses its parameters, calls one function of :mod:`hanport.reader.api` and answers.
Handlers that reach the database are plain ``def``: FastAPI runs them in its thread pool, so a
slow query never stalls the live feed or the sources on the event loop. The reader's context
comes from ``app.state.reader`` (set by :func:`hanport.reader.web.app.create_app`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from hanport.reader import api
from hanport.reader.api import ReaderContext
from hanport.reader.dashboard.i18n import COOKIE_NAME, choose_language

__all__ = ["router"]


async def _reader(request: Request) -> ReaderContext:
    # async: FastAPI runs a sync dependency in the thread pool, a hop /api/now can do without
    context: ReaderContext = request.app.state.reader
    return context


Context = Annotated[ReaderContext, Depends(_reader)]
#: local time: YYYY-MM-DD, optionally THH:MM[:SS]
_LOCAL_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?)?$"
From = Annotated[str | None, Query(alias="from", pattern=_LOCAL_TIME)]
To = Annotated[str | None, Query(pattern=_LOCAL_TIME)]
Month = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
MeterId = Annotated[str | None, Query(max_length=64)]
Format = Literal["json", "csv"]


class Problem(BaseModel):
    """Why a request was not answered: a sentence (bokmål / English), or FastAPI's list of the
    parameters that do not fit the schema."""

    detail: str | list[dict[str, Any]]


#: the table endpoints answer JSON, or CSV with format=csv
_TABLE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the rows: JSON, or CSV with `format=csv`",
        "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
    }
}

router = APIRouter(
    prefix="/api",
    responses={422: {"model": Problem, "description": "a parameter that cannot be answered"}},
)


def _table(
    rows: list[dict[str, Any]], format: str, filename: str, columns: Sequence[str] = ()
) -> Response:
    """JSON, or CSV whose header comes from the rows or, with none, from ``columns``."""
    if format != "csv":
        return JSONResponse(rows)
    out = io.StringIO()
    header = list(rows[0]) if rows else list(columns)
    if header:
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/meters", tags=["meters"])
def get_meters(ctx: Context) -> Response:
    return JSONResponse(api.meters(ctx))


@router.get(
    "/now",
    tags=["live"],
    description=(
        "The latest values of each meter, this hour so far and last hour; `age_s` (seconds "
        "since the reading arrived), `stale` (older than three of its meter's push intervals, "
        "or no live source) and `stale_after_s`."
    ),
)
async def get_now(ctx: Context, meter_id: MeterId = None) -> Response:
    # from memory on the event loop; the database (hanport serve) in the thread pool
    current = api.live_now(ctx, meter_id)
    if current is None:
        current = await run_in_threadpool(api.now, ctx, meter_id)
    return JSONResponse(current)


_ENERGY_DOC = (
    "`[{meter_id, start, active_energy_import_kwh, active_energy_export_kwh, net_kwh, "
    "estimated}]` (hours also `source`: reader | official); `from`/`to` local "
    "YYYY-MM-DD[THH:MM:SS], `to` exclusive; `format=csv` for CSV. "
    "With a grid tariff (`[tariff] company`) and a bidding zone (`[prices] zone`) configured, "
    "each row also has `spot_nok_per_kwh`, `grid_nok_per_kwh`, `support_nok`, `cost_nok` and "
    "`income_nok` (null where a price of the period is not known), `priced_cost_nok` (the cost "
    "of the hours that have a price) and `unpriced_hours` (how many have none)."
)

_NOK: dict[str, Any] = {"type": ["number", "null"]}
#: one row of /api/hours, /days or /months (the cost keys only with a tariff and a zone)
_ENERGY_ROW: dict[str, Any] = {
    "type": "object",
    "required": ["meter_id", "start", "active_energy_import_kwh", "active_energy_export_kwh"],
    "properties": {
        "meter_id": {"type": "string"},
        "start": {"type": "string", "description": "local time the period starts"},
        "active_energy_import_kwh": {"type": "number"},
        "active_energy_export_kwh": {"type": "number"},
        "net_kwh": {"type": "number", "description": "import − export"},
        "estimated": {"type": "boolean"},
        "source": {
            "type": "string",
            "enum": ["reader", "official"],
            "description": "hours only: official when `hanport reconcile --replace-estimated` "
            "booked the official value for the reader's estimate",
        },
        "spot_nok_per_kwh": _NOK | {"description": "spot, import-weighted, NOK/kWh excl. VAT"},
        "grid_nok_per_kwh": _NOK | {"description": "grid energy charge + levies, incl. VAT"},
        "support_nok": _NOK | {"description": "electricity support (or Norgespris settlement)"},
        "cost_nok": _NOK | {"description": "spot + grid energy − support, incl. VAT"},
        "income_nok": _NOK | {"description": "export at spot"},
        "priced_cost_nok": _NOK
        | {"description": "the cost of the period's hours that have one; null when none has"},
        "unpriced_hours": {
            "type": ["integer", "null"],
            "description": "how many of the period's hours have no `cost_nok` (no price yet)",
        },
    },
}
_ENERGY_TABLE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the rows: JSON, or CSV with `format=csv`",
        "content": {
            "application/json": {"schema": {"type": "array", "items": _ENERGY_ROW}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


def _energy_route(kind: str) -> Callable[..., Response]:
    def endpoint(
        ctx: Context,
        from_: From = None,
        to: To = None,
        meter_id: MeterId = None,
        format: Format = "json",
    ) -> Response:
        rows = api.energy(ctx, kind, from_, to, meter_id)
        return _table(rows, format, f"hanport-{kind}.csv", api.energy_columns(ctx, kind))

    return endpoint


# /api/hours, /api/days, /api/months: one signature; name= keeps each OpenAPI operationId
for _kind in api.ENERGY_KINDS:
    router.add_api_route(
        f"/{_kind}",
        _energy_route(_kind),
        methods=["GET"],
        name=f"get_{_kind}",
        tags=["energy"],
        responses=_ENERGY_TABLE,
        description=_ENERGY_DOC,
    )


@router.get("/tariff", tags=["energy"])
def get_tariff(ctx: Context, month: Month = None, meter_id: MeterId = None) -> Response:
    return JSONResponse(api.tariff(ctx, month, meter_id))


@router.get(
    "/reconcile",
    tags=["energy"],
    description=(
        "The official hourly values imported by `hanport reconcile` against the reader's booked "
        "hours: `[{meter_id, month, tolerance_kwh, flagged, hours: [{start, official_kwh, "
        "official_measured, reader_kwh, reader_estimated, difference_kwh, flagged, replaced}], "
        "peaks: "
        "{official: [{start, kwh}], reader: [{start, kwh}]}}]`, one per meter with imported "
        "hours (default: this month)."
    ),
)
def get_reconcile(
    ctx: Context,
    month: Month = None,
    meter_id: MeterId = None,
    tolerance_kwh: Annotated[float, Query(ge=0, le=1000)] = 0.01,
) -> Response:
    return JSONResponse(api.reconcile(ctx, month, meter_id, tolerance_kwh))


_KWH: dict[str, Any] = {"type": ["number", "null"]}
#: one object of /api/budget (docs/CONTRACTS.md §4)
_BUDGET_ROW: dict[str, Any] = {
    "type": "object",
    "required": [
        "meter_id",
        "hour_start",
        "hour_end",
        "used_kwh",
        "limit_kwh",
        "left_kwh",
        "minutes_left",
        "step",
        "would_raise_step",
        "stale",
        "period",
        "period_start",
        "period_end",
        "counts",
        "reason",
        "estimated",
        "over_cost_per_kwh",
        "over_cost",
        "currency",
        "rule",
    ],
    "properties": {
        "meter_id": {"type": "string"},
        "hour_start": {"type": "string", "description": "local start of the meter's hour"},
        "hour_end": {"type": "string"},
        "used_kwh": {"type": "number", "description": "imported in the running period so far"},
        "limit_kwh": _KWH
        | {
            "description": "the most the running period may import without raising the "
            "month's capacity charge (step); null when the period does not count or on the top "
            "step"
        },
        "left_kwh": _KWH | {"description": "limit − used"},
        "minutes_left": _KWH | {"description": "left at the current import power"},
        "step": {
            "type": ["object", "null"],
            "description": "the month's step {from_kw, to_kw, price_nok}; null for a price per kW",
        },
        "would_raise_step": {
            "type": "boolean",
            "description": "the period's projection exceeds the limit (false when stale)",
        },
        "stale": {"type": "boolean"},
        "period": {
            "type": "string",
            "enum": ["hour", "quarter_hour"],
            "description": "what used/limit/left/minutes are of: the hour, or the running "
            "quarter-hour under a quarter-hour rule",
        },
        "period_start": {"type": "string"},
        "period_end": {"type": "string"},
        "counts": {
            "type": "boolean",
            "description": "whether the period counts toward the capacity charge under the "
            "chosen tariff's rule",
        },
        "reason": {
            "type": ["string", "null"],
            "enum": ["outside_window", "weekend", "holiday", "fewer_than_count", "top_step", None],
            "description": "why the period does not count (outside_window, weekend, holiday); "
            "fewer_than_count: the month has fewer counted peaks than the rule averages, so "
            "every kWh above the limit raises the charge; top_step: no step above",
        },
        "estimated": {
            "type": "boolean",
            "description": "quarter-hours integrated from the pushes' power",
        },
        "over_cost_per_kwh": _KWH
        | {
            "description": "a tariff priced per kW: what each kWh above the limit adds to the "
            "month's capacity charge, in `currency`, excl. VAT; null for steps"
        },
        "over_cost": _KWH
        | {
            "description": "what the period's projection above the limit would add to the "
            "month's charge (0 below it); null for steps or when stale"
        },
        "currency": {"type": "string", "description": "the tariff's currency (NOK, SEK)"},
        "rule": {
            "type": "object",
            "description": "the capacity rule followed: {rule, resolution, count, window_hours, "
            "weekdays_only, skip_holidays}",
        },
    },
}


@router.get(
    "/budget",
    tags=["energy"],
    description=(
        "This hour's allowance: `[{meter_id, hour_start, hour_end, used_kwh, limit_kwh, "
        "left_kwh, minutes_left, step, would_raise_step, stale, period, period_start, "
        "period_end, counts, reason, estimated, over_cost_per_kwh, over_cost, currency, "
        "rule}]`; `limit_kwh` is what the hour may import without raising the month's capacity "
        "step (null on the top step). With a chosen tariff (`[tariff] company`) whose own "
        "capacity rule is not the Norwegian stepped one, by that rule: a period outside its "
        "window, on a weekend or a holiday it skips has `counts` false and no limit; a price "
        "per kW has no step and `over_cost_per_kwh`; a quarter-hour rule's figures are the "
        "running quarter-hour's, estimated."
    ),
    responses={
        200: {
            "description": "one object per meter",
            "content": {
                "application/json": {"schema": {"type": "array", "items": _BUDGET_ROW}},
            },
        }
    },
)
def get_budget(ctx: Context, meter_id: MeterId = None) -> Response:
    return JSONResponse(api.budget(ctx, meter_id))


@router.get("/readings", tags=["readings"], responses=_TABLE)
def get_readings(
    ctx: Context,
    meter_id: Annotated[str, Query(max_length=64)],
    from_: From = None,
    to: To = None,
    fields: Annotated[str | None, Query(max_length=1000)] = None,
    format: Format = "json",
) -> Response:
    rows = api.readings(ctx, meter_id, from_, to, fields)
    return _table(rows, format, "hanport-readings.csv")


@router.get("/health", tags=["health"])
def get_health(ctx: Context, request: Request) -> Response:
    # issue messages in the dashboard's language (its cookie) or the client's Accept-Language
    language = choose_language(
        request.cookies.get(COOKIE_NAME), request.headers.get("accept-language")
    )
    return JSONResponse(api.health(ctx, language))


@router.get(
    "/prices",
    tags=["prices"],
    description=(
        "Day-ahead spot prices of a local (Europe/Oslo) day from the cache: `{zone, date, "
        "currency, prices: [{start, end, eur_per_mwh, nok_per_kwh}]}`, `nok_per_kwh` without "
        "VAT, intervals of 15 or 60 minutes; an empty list when not (yet) known. 422 for a bad "
        "date or an unknown zone (or none configured)."
    ),
    responses={422: {"description": "bad date, unknown zone, or no zone configured"}},
)
def get_prices(
    ctx: Context,
    date: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2026-03-29"])],
    zone: Annotated[
        Literal["NO1", "NO2", "NO3", "NO4", "NO5", "SE1", "SE2", "SE3", "SE4", "DK1", "DK2", "FI"]
        | None,
        Query(),
    ] = None,
) -> Response:
    return JSONResponse(api.prices(ctx, date, zone))


@router.get("/frames/recent", tags=["health"])
def get_recent_frames(ctx: Context, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> Response:
    return JSONResponse(api.recent_frames(ctx, limit))


async def _live_events(ctx: ReaderContext, request: Request) -> AsyncIterator[str]:
    live = ctx.live
    yield "retry: 3000\n\n"
    # say at once whether readings will follow, so a page need not guess from a feed that
    # ends empty (``hanport serve`` has no live source: nothing ever will)
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


@router.get(
    "/live",
    tags=["live"],
    response_class=StreamingResponse,
    description=(
        'Server-Sent Events: first `event: status`, data `{"live": bool}` (false under '
        "`hanport serve`, which has no live source: the feed then ends), then "
        "`event: reading`, data the /api/now object of a meter."
    ),
)
async def get_live(ctx: Context, request: Request) -> StreamingResponse:
    return StreamingResponse(
        _live_events(ctx, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
