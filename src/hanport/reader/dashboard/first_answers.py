"""What a dashboard page asks the API first, answered on the server and embedded in the page.

Each page has a plan: the API calls its scripts make first (as the path and parameters they
fetch, the key common.js looks them up by) and the functions of :mod:`hanport.reader.api` that
answer them, the same the API's routes call. A plan may ask for answers it needs to know the
next calls (the meter shown, the time of its latest reading). Pages default to the meter's own
day, the local day of its latest reading: a meter's clock, not the server's, says what "today"
is (an emulator running fast, a meter behind, a database served after the fact).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from starlette.requests import Request

from hanport.reader import api
from hanport.reader.api import ReaderContext
from hanport.reader.dashboard.i18n import COOKIE_NAME, choose_language
from hanport.reader.dashboard.periods import Period

__all__ = [
    "Call",
    "Plan",
    "call_key",
    "first_answers",
    "health_plan",
    "history_plan",
    "now_plan",
    "reconcile_call",
    "server_today",
    "today_plan",
]

# API times are Norwegian local time; without a meter, "today" is Oslo's, not the host's.
LOCAL_ZONE: Final = ZoneInfo("Europe/Oslo")
#: now.js draws the power of this many minutes before the latest reading
RECENT_MINUTES: Final = 15
RECENT_FIELDS: Final = "active_power_import_w,active_power_export_w"
VOLTAGE_FIELDS: Final = "voltage_l1_v,voltage_l2_v,voltage_l3_v"


def server_today() -> date:
    return datetime.now(LOCAL_ZONE).date()


def call_key(path: str, params: Mapping[str, str]) -> str:
    """The key of a call in the embedded answers; common.js builds the same from its arguments."""
    query = "&".join(f"{key}={params[key]}" for key in sorted(params))
    return f"{path}?{query}" if query else path


@dataclass(frozen=True, slots=True)
class Call:
    """An API call as a page's script makes it, and the function that answers it."""

    path: str
    params: Mapping[str, str]
    answer: Callable[[ReaderContext], Any] = field(compare=False)

    @property
    def key(self) -> str:
        return call_key(self.path, self.params)


Ask = Callable[[Call], Any]
#: a page's plan: given `ask`, its first calls and what the page's template needs besides
Plan = Callable[[Ask], tuple[list[Call], dict[str, Any]]]


def meters_call() -> Call:
    return Call("/api/meters", {}, api.meters)


def now_call() -> Call:
    return Call("/api/now", {}, api.now)


def tariff_call(day: date, meter_id: str) -> Call:
    month = day.isoformat()[:7]
    params = {"month": month, "meter_id": meter_id}
    return Call("/api/tariff", params, lambda ctx: api.tariff(ctx, month, meter_id))


def budget_call(meter_id: str) -> Call:
    return Call("/api/budget", {"meter_id": meter_id}, lambda ctx: api.budget(ctx, meter_id))


def energy_call(kind: str, start: date, end: date, meter_id: str) -> Call:
    params = {"from": f"{start}T00:00:00", "to": f"{end}T00:00:00", "meter_id": meter_id}
    return Call(
        f"/api/{kind}",
        params,
        lambda ctx: api.energy(ctx, kind, params["from"], params["to"], meter_id),
    )


def readings_call(meter_id: str, from_: str, to: str, fields: str) -> Call:
    params = {"meter_id": meter_id, "from": from_, "to": to, "fields": fields}
    return Call("/api/readings", params, lambda ctx: api.readings(ctx, meter_id, from_, to, fields))


def reconcile_call(month: str, meter_id: str) -> Call:
    params = {"month": month, "meter_id": meter_id}
    return Call("/api/reconcile", params, lambda ctx: api.reconcile(ctx, month, meter_id))


def health_calls(language: str) -> list[Call]:
    return [
        Call("/api/health", {}, lambda ctx: api.health(ctx, language)),
        Call("/api/frames/recent", {"limit": "20"}, lambda ctx: api.recent_frames(ctx, 20)),
    ]


def first_answers(
    reader: ReaderContext | None, plan: Plan
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the answers to the plan's calls by key, the plan's template context). A call the API
    would answer with an error is left out: the page then asks the API itself and shows that
    error. Without a reader (the dashboard on an app without the API) nothing is answered."""
    answers: dict[str, Any] = {}

    def ask(call: Call) -> Any:
        if reader is None:
            raise LookupError("no reader API in this app")
        if call.key not in answers:
            answers[call.key] = call.answer(reader)
        return answers[call.key]

    calls, context = plan(ask)
    for call in calls:
        try:
            ask(call)
        except Exception:
            # a bad query or a database down: the page still renders and its script asks
            answers.pop(call.key, None)
    return answers, context


def _safely(ask: Ask, call: Call, default: Any) -> Any:
    try:
        return ask(call)
    except Exception:
        return default


def default_meter(request: Request, ask: Ask) -> str | None:
    """The meter common.js's chooseMeter shows when the browser remembers none: ?meter=, else
    the one heard from last. (A browser remembering another meter asks the API itself.)"""
    chosen = request.query_params.get("meter")
    if chosen:
        return chosen
    meters = sorted(_safely(ask, meters_call(), []), key=lambda m: m["last_seen"] or "")
    return str(meters[-1]["meter_id"]) if meters else None


def meter_day(ask: Ask, meter_id: str | None) -> date:
    """The local day of the meter's latest reading (the server's day for an unknown meter)."""
    for meter in _safely(ask, meters_call(), []):
        if meter["meter_id"] == meter_id and meter["last_seen"]:
            return date.fromisoformat(meter["last_seen"][:10])
    return server_today()


def now_plan(request: Request) -> Plan:
    def plan(ask: Ask) -> tuple[list[Call], dict[str, Any]]:
        calls = [meters_call(), now_call()]
        meter = default_meter(request, ask)
        if meter is None:
            return calls, {}
        day = meter_day(ask, meter)
        calls += [tariff_call(day, meter), budget_call(meter)]
        latest = _safely(ask, now_call(), [])
        reading = next((r for r in latest if r["meter_id"] == meter), None)
        to = reading and (reading.get("at") or reading.get("received_at"))
        if to:
            since = datetime.fromisoformat(to[:19]) - timedelta(minutes=RECENT_MINUTES)
            calls.append(readings_call(meter, since.isoformat(), to, RECENT_FIELDS))
        return calls, {"today": day.isoformat()}

    return plan


def today_plan(request: Request) -> Plan:
    def plan(ask: Ask) -> tuple[list[Call], dict[str, Any]]:
        meter = default_meter(request, ask)
        if meter is None:
            return [meters_call()], {}
        day = meter_day(ask, meter)
        month = day.replace(day=1)
        next_month = (month + timedelta(days=31)).replace(day=1)
        calls = [
            meters_call(),
            energy_call("hours", day, day + timedelta(days=1), meter),
            tariff_call(day, meter),
            energy_call("months", month, next_month, meter),  # the month's cost
        ]
        return calls, {"today": day.isoformat()}

    return plan


def history_plan(request: Request, period_of: Callable[[date], Period]) -> Plan:
    """``period_of(default day)``: the period the page shows, given the meter's day."""

    def plan(ask: Ask) -> tuple[list[Call], dict[str, Any]]:
        meter = default_meter(request, ask)
        day = meter_day(ask, meter)
        period = period_of(day)
        context = {"today": day.isoformat(), "period": period}
        if meter is None:
            return [meters_call()], context
        calls = [
            meters_call(),
            energy_call(period.endpoint, period.start, period.end, meter),
            energy_call(period.endpoint, period.previous_start, period.previous_end, meter),
        ]
        if period.view == "day":
            window = energy_call("hours", period.start, period.end, meter).params
            calls.append(readings_call(meter, window["from"], window["to"], VOLTAGE_FIELDS))
        if period.view == "month":
            calls.append(reconcile_call(period.start.isoformat()[:7], meter))
        return calls, context

    return plan


def health_plan(request: Request) -> Plan:
    # the embedded /api/health speaks the page's language, as the API does for its cookie
    language = choose_language(
        request.cookies.get(COOKIE_NAME), request.headers.get("accept-language")
    )
    return lambda _ask: (health_calls(language), {})
