"""The answers of the reader's JSON API (docs/CONTRACTS.md §4) as plain functions.

One function per GET endpoint, taking the reader's context and the endpoint's parameters and
returning plain data. The HTTP routes (``reader/web/routes.py``) and the dashboard (which embeds
a page's first answers in the page) both call these; neither knows about the other, and this
module knows about neither. The functions block on the database: callers off the event loop.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy import select as sa_select

from hanport import __version__
from hanport.i18n import DEFAULT_LANG, N_, translations
from hanport.reader.cost import CostPlan, cheapest_hours
from hanport.reader.cost_rows import COST_FIELDS, add_costs
from hanport.reader.energy import (
    DEFAULT_CAPACITY_STEPS,
    HOUR,
    LOCAL_TZ,
    CapacityStep,
    DatedSteps,
    hour_start,
    local_iso,
    parse_local,
    steps_on,
)
from hanport.reader.live import (
    DEFAULT_PUSH_INTERVAL_S,
    MIN_PUSH_INTERVAL_S,
    STALE_AFTER_INTERVALS,
    LiveState,
    freshness,
)
from hanport.reader.pipeline import Hub
from hanport.reader.rule_budget import QuarterCache, period_allowance, running_quarter
from hanport.reader.storage import queries
from hanport.reader.storage.writer import Writer
from hanport.reader.tariffs.allowance import RuleAllowance
from hanport.reader.tariffs.capacity import capacity, quarter_hours_from_power
from hanport.reader.tariffs.registry import CapacityRule, Tariff

__all__ = [
    "ENERGY_KINDS",
    "AnswerError",
    "ReaderContext",
    "budget",
    "energy",
    "energy_columns",
    "health",
    "live_now",
    "meters",
    "now",
    "readings",
    "recent_frames",
    "tariff",
]

#: the energy endpoints: /api/hours, /api/days, /api/months
ENERGY_KINDS = ("hours", "days", "months")


class AnswerError(ValueError):
    """A parameter the API cannot answer for (HTTP 422 with this message as ``detail``)."""


@dataclass(slots=True)
class ReaderContext:
    """What the API reads: the database, and when reading live, the hub, writer and MQTT.

    ``clock`` gives POSIX seconds; it decides how old the latest reading is (``age_s``)."""

    engine: Engine
    live: LiveState | None = None
    hub: Hub | None = None
    writer: Writer | None = None
    steps: Sequence[CapacityStep] = DEFAULT_CAPACITY_STEPS
    step_periods: DatedSteps = ()  # the tariff's steps by date; empty: ``steps`` at every date
    mqtt_status: Callable[[], dict[str, Any]] | None = None
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    # meter → (time of its latest reading, what the database said then): a meter's /api/now
    # from the database costs one query on the meters table until it has a newer reading
    stored_now: dict[str, tuple[float, queries.StoredNow]] = field(default_factory=dict)
    prices_zone: str | None = None  # the configured bidding zone; None: prices are off
    cost_plan: CostPlan | None = None  # the chosen grid tariff; with prices, rows get costs
    price_status: Callable[[], dict[str, Any]] | None = None  # the price fetcher's health
    backup_status: Callable[[], dict[str, Any]] | None = None  # the scheduled backups' health
    # the tariff chosen by name ([tariff] company), also without a bidding zone; None: the
    # cost plan's, if any. The allowance follows its capacity rule (``rule_budget``).
    grid_tariff: Tariff | None = None
    quarters: QuarterCache = field(default_factory=QuarterCache)  # quarter-hour rules' month

    def chosen_tariff(self) -> Tariff | None:
        """The grid tariff the user chose, if any."""
        if self.grid_tariff is not None:
            return self.grid_tariff
        return self.cost_plan.tariff if self.cost_plan is not None else None

    def steps_on(self, day: dt.date) -> Sequence[CapacityStep]:
        """The capacity steps of the price list in force on the local date ``day``."""
        return steps_on(day, self.step_periods, self.steps)


def _local_midnight(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).timestamp()


def _default_start(kind: str, now: float) -> tuple[float, float]:
    """(start, length in seconds) of the default window of an energy endpoint."""
    today = dt.datetime.fromtimestamp(now, LOCAL_TZ).date()
    if kind == "hours":
        return _local_midnight(today), 86400
    if kind == "days":
        return _local_midnight(today.replace(day=1)), 31 * 86400
    return _local_midnight(today.replace(month=1, day=1)), 366 * 86400


def _window(from_: str | None, to: str | None, default: tuple[float, float]) -> tuple[float, float]:
    try:
        start = queries.parse_time(from_) if from_ else default[0]
        end = queries.parse_time(to) if to else start + default[1]
    except queries.QueryError as exc:
        raise AnswerError(str(exc)) from None
    if end <= start:
        raise AnswerError("`to` må være etter `from` / `to` must be after `from`")
    return start, end


def meters(ctx: ReaderContext) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return queries.list_meters(conn)


def live_now(ctx: ReaderContext, meter_id: str | None = None) -> list[dict[str, Any]] | None:
    """The /api/now objects from memory, without touching the database; None when the live
    state knows no such meter (then ask :func:`now`)."""
    if ctx.live is None:
        return None
    return ctx.live.now(meter_id) or None


def now(ctx: ReaderContext, meter_id: str | None = None) -> list[dict[str, Any]]:
    """The /api/now objects: from the live state when it knows the meter, else from the
    database. Without a live source (``hanport serve``) every reading is stale."""
    current = live_now(ctx, meter_id)
    if current is not None:
        return current
    result = []
    with ctx.engine.connect() as conn:
        for mid, seen in sorted(queries.last_seen(conn, meter_id).items()):
            cached = ctx.stored_now.get(mid)
            if cached is None or cached[0] != seen:
                stored = queries.now_from_db(conn, mid)
                if stored is None:
                    continue
                cached = ctx.stored_now[mid] = (seen, stored)
            result.append(_stored_freshness(ctx, cached[1]))
    return result


def _stored_freshness(ctx: ReaderContext, stored: queries.StoredNow) -> dict[str, Any]:
    interval = max(stored.push_interval_s or DEFAULT_PUSH_INTERVAL_S, MIN_PUSH_INTERVAL_S)
    return freshness(
        stored.now,
        stored.received_at,
        STALE_AFTER_INTERVALS * interval,
        ctx.clock(),
        live=ctx.live is not None,
    )


def energy(
    ctx: ReaderContext,
    kind: str,
    from_: str | None = None,
    to: str | None = None,
    meter_id: str | None = None,
) -> list[dict[str, Any]]:
    start, end = _window(from_, to, _default_start(kind, ctx.clock()))
    return energy_between(ctx, kind, start, end, meter_id)


def energy_between(
    ctx: ReaderContext, kind: str, start: float, end: float, meter_id: str | None = None
) -> list[dict[str, Any]]:
    """The hours, days or months in [start, end), with their cost when a tariff and a zone are
    configured (``/api/hours``…, and ``hanport export``)."""
    fetch = {
        "hours": queries.hours_between,
        "days": queries.days_between,
        "months": queries.months_between,
    }[kind]
    with ctx.engine.connect() as conn:
        rows = fetch(conn, start, end, meter_id)  # hours carry their ``source`` (hours.source)
        if ctx.cost_plan is not None and ctx.prices_zone:
            rows = add_costs(conn, rows, kind, (start, end), ctx.cost_plan)
        return rows


def energy_columns(ctx: ReaderContext, kind: str = "days") -> tuple[str, ...]:
    """The keys of :func:`energy` rows, for a CSV header when there are none."""
    plain = queries.ENERGY_COLUMNS + (("source",) if kind == "hours" else ())
    return plain + COST_FIELDS if ctx.cost_plan is not None and ctx.prices_zone else plain


def _fresh_meters(ctx: ReaderContext) -> set[str]:
    """Meters whose latest reading is not stale: only their running hour is projected."""
    if ctx.live is None:
        return set()
    return {n["meter_id"] for n in ctx.live.now() if not n["stale"]}


def _month_day(month: str) -> dt.date:
    """The first day of ``YYYY-MM`` (a month's capacity steps are those in force then); today
    for a malformed month, which the query refuses with its own message."""
    try:
        return dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        return dt.date.today()


def tariff(
    ctx: ReaderContext, month: str | None = None, meter_id: str | None = None
) -> list[dict[str, Any]]:
    month = month or dt.datetime.fromtimestamp(ctx.clock(), LOCAL_TZ).strftime("%Y-%m")
    try:
        with ctx.engine.connect() as conn:
            rows = queries.tariff_for_month(
                conn, month, ctx.steps_on(_month_day(month)), meter_id, fresh=_fresh_meters(ctx)
            )
            if ctx.cost_plan is None:
                return rows
            # which grid company's tariff, the price list in force that month, and its source;
            # and the month by that tariff's own capacity rule
            in_force = ctx.cost_plan.tariff.on(_month_day(month))
            chosen = in_force.to_json()
            return [
                row
                | {
                    "grid_tariff": chosen,
                    "by_tariff_rule": _capacity_by_rule(conn, in_force, row["meter_id"], month),
                }
                for row in rows
            ]
    except queries.QueryError as exc:
        raise AnswerError(str(exc)) from None


def _capacity_by_rule(
    conn: Connection, tariff: Tariff, meter_id: str, month: str
) -> dict[str, Any]:
    """The month's capacity figure and charge by the chosen tariff's own rule: the Swedish
    weekday window, quarter-hour maxima (estimated from the pushes' power: the meters'
    registers are hourly) or the Norwegian three daily maxima."""
    start, end = queries.month_bounds(month)
    rule = tariff.rule
    periods: Iterable[tuple[int, float]]
    if rule.resolution == "quarter_hour":
        samples = queries.import_power(conn, meter_id, start, end)
        periods = quarter_hours_from_power(samples).items()
    else:
        periods = queries.import_hours(conn, meter_id, start, end)
    figure = capacity(periods, tariff, estimated=rule.resolution == "quarter_hour")
    if tariff.per_kw_by_month:
        charge: float | None = round(figure.kw * tariff.per_kw_by_month[int(month[5:7]) - 1], 2)
    else:
        charge = next((s.price_nok for s in tariff.steps if s.contains(figure.kw)), None)
    return {
        "rule": rule.kind,
        "resolution": rule.resolution,
        "window_hours": list(rule.window_hours),
        "weekdays_only": rule.weekdays_only,
        "kw": figure.kw,
        "peaks": [{"start": local_iso(t), "kw": round(kw, 6)} for t, kw in figure.peaks],
        "estimated": figure.estimated,
        "charge": charge,
        "currency": tariff.currency,
    }


def reconcile(
    ctx: ReaderContext,
    month: str | None = None,
    meter_id: str | None = None,
    tolerance_kwh: float = 0.01,
) -> list[dict[str, Any]]:
    """Per meter with imported official hours that month: each against the booked hour, and
    the month's three highest daily maxima of both (``hanport reconcile`` imports them)."""
    from hanport.reader.reconcile import month_report
    from hanport.reader.storage.schema import official_hours

    month = month or dt.datetime.fromtimestamp(ctx.clock(), LOCAL_TZ).strftime("%Y-%m")
    try:
        first = dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        raise AnswerError(f"month must be YYYY-MM, not {month!r}") from None
    with ctx.engine.connect() as conn:
        ids = sorted(r[0] for r in conn.execute(sa_select(official_hours.c.meter_id).distinct()))
        chosen = [m for m in ids if meter_id is None or m == meter_id]
        return [month_report(conn, m, first, tolerance_kwh) for m in chosen]


def _rule_json(rule: CapacityRule) -> dict[str, Any]:
    return {
        "rule": rule.kind,
        "resolution": rule.resolution,
        "count": rule.count,
        "window_hours": list(rule.window_hours),
        "weekdays_only": rule.weekdays_only,
        "skip_holidays": rule.skip_holidays,
    }


#: the rule ``energy.hour_allowance`` computes (no tariff chosen, or a Norwegian stepped one)
NORWEGIAN_RULE = CapacityRule("top_days", 3, "hour")


def _budget_row(
    now: dict[str, Any],
    allowance: RuleAllowance,
    used: float,
    projection: float | None,
    tariff: Tariff | None,
) -> dict[str, Any]:
    running = hour_start(allowance.period_start)
    rule = tariff.rule if tariff is not None else NORWEGIAN_RULE
    limit = allowance.limit_kwh
    left = None if limit is None else round(limit - used, 6)
    power_kw = float(now.get("active_power_import_w") or 0.0) / 1000
    minutes_left = None
    if left is not None and not now["stale"] and power_kw > 0:
        minutes_left = round(max(left, 0.0) / power_kw * 60, 1)
    over = limit is not None and projection is not None and projection > limit
    over_cost = None
    if allowance.over_cost_per_kwh is not None and projection is not None:
        excess = projection - limit if over and limit is not None else 0.0
        over_cost = round(excess * allowance.over_cost_per_kwh, 2)
    return {
        "meter_id": now["meter_id"],
        "hour_start": local_iso(running),
        "hour_end": local_iso(running + HOUR),
        "used_kwh": round(used, 6),
        "limit_kwh": limit,
        "left_kwh": left,
        "minutes_left": minutes_left,
        "step": allowance.step.to_json() if allowance.step is not None else None,
        "would_raise_step": over,
        "stale": now["stale"],
        "period": rule.resolution,
        "period_start": local_iso(allowance.period_start),
        "period_end": local_iso(allowance.period_start + allowance.period_s),
        "counts": allowance.counts,
        "reason": allowance.reason,
        "estimated": rule.resolution == "quarter_hour",
        "over_cost_per_kwh": allowance.over_cost_per_kwh,
        "over_cost": over_cost,
        "currency": tariff.currency if tariff is not None else "NOK",
        "rule": _rule_json(rule),
    }


def _budget_of(ctx: ReaderContext, now: dict[str, Any]) -> dict[str, Any]:
    at = parse_local(now["at"])
    meter_id = now["meter_id"]
    tariff = ctx.chosen_tariff()
    day = dt.datetime.fromtimestamp(at, LOCAL_TZ).date()
    with ctx.engine.connect() as conn:
        allowance = period_allowance(conn, meter_id, at, tariff, ctx.steps_on(day), ctx.quarters)
        if allowance.period_s == HOUR:
            used = float(now.get("this_hour_kwh") or 0.0)
            projection = now.get("this_hour_projection_kwh")
        else:
            used, projection = running_quarter(conn, meter_id, at)
    return _budget_row(now, allowance, used, None if now["stale"] else projection, tariff)


def budget(ctx: ReaderContext, meter_id: str | None = None) -> list[dict[str, Any]]:
    """This hour's allowance per meter: what it may still import without raising the month's
    capacity step (:func:`hanport.reader.energy.hour_allowance`), or with a tariff whose own
    rule is not the Norwegian stepped one, its charge by that rule
    (:mod:`hanport.reader.rule_budget`), as of its latest reading."""
    return [_budget_of(ctx, current) for current in now(ctx, meter_id)]


def readings(
    ctx: ReaderContext,
    meter_id: str,
    from_: str | None = None,
    to: str | None = None,
    fields: str | None = None,
) -> list[dict[str, Any]]:
    start, end = _window(from_, to, (ctx.clock() - 3600, 3600))
    field_list = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    try:
        with ctx.engine.connect() as conn:
            return queries.readings_between(conn, meter_id, start, end, field_list)
    except queries.QueryError as exc:
        raise AnswerError(str(exc)) from None


def recent_frames(ctx: ReaderContext, limit: int = 20) -> list[dict[str, Any]]:
    if ctx.hub is not None:
        return [
            {
                **f,
                "received_at": local_iso(f["received_at"]),
            }
            for f in ctx.hub.recent_frames(limit)
        ]
    with ctx.engine.connect() as conn:
        return queries.recent_frames(conn, limit)


#: /api/health issues by code: the English text (msgid of the reader catalogs) with placeholders
ISSUE_TEXTS: dict[str, str] = {
    "source_failing": N_("{source}: {error}"),
    "source_retrying": N_("{source}: {error} (retrying in {seconds} s)"),
    "source_silent": N_("{source}: no frames in the last minute"),
    # connected but silent: the meter's HAN port may be closed on purpose, so information only
    "source_quiet": N_("{source}: no data since {time} – is the HAN port open?"),
    "source_no_data_yet": N_("{source}: no data yet – is the HAN port open?"),
    "source_rejects": N_(
        "{source}: more than a tenth of the frames rejected (check the serial settings or the keys)"
    ),
    "database_failing": N_("Database: {error}"),
    "storage_failing": N_("Storage failing: {error}"),
    "mqtt_disconnected": N_("MQTT: not connected ({error})"),
    "prices_failing": N_("Prices: fetching fails, the last known prices are shown ({error})"),
    "backup_failed": N_("Backup failed: {error}"),
    "cost_rules_ending": N_(
        "Cost: the public levies and support hanport knows end on {date} – update hanport "
        "before then to keep the cost"
    ),
    "cost_rules_ended": N_(
        "Cost: the public levies and support hanport knows ended on {date} – the cost after "
        "it is unknown until hanport is updated"
    ),
}
#: how long before the public rules end the health page says so
RULES_NOTICE_DAYS = 31
#: what the MQTT issue says while the first connection is still being made
MQTT_CONNECTING = N_("connecting")


#: a retrying source's detail (``reader.sources``): "<error> (nytt forsøk om / retry in 2.0 s)"
_RETRY = re.compile(r"(.*) \(nytt forsøk om / retry in ([0-9.]+) s\)", re.DOTALL)


class _Issues(list[dict[str, str]]):
    """The health issues, their messages in one language."""

    def __init__(self, language: str) -> None:
        super().__init__()
        self.catalog = translations("reader", language)

    def add(self, level: str, code: str, **params: str) -> None:
        text = self.catalog.gettext(ISSUE_TEXTS[code]).format(**params)
        self.append({"level": level, "code": code, "message": text})


def _since(last: float, now: float) -> str:
    """Local "HH:MM" of ``last``; "YYYY-MM-DD HH:MM" when it is not today's."""
    when = dt.datetime.fromtimestamp(last, LOCAL_TZ)
    same_day = when.date() == dt.datetime.fromtimestamp(now, LOCAL_TZ).date()
    return when.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")


def _quiet_issue(s: dict[str, Any], last: float | None, now: float, issues: _Issues) -> None:
    """A source without frames for a minute: information while it is connected (the reader
    cannot tell a closed HAN port from a fault), a warning while it is not."""
    if s["state"] != "connected":
        issues.add("warning", "source_silent", source=s["name"])
    elif last is None:
        issues.add("info", "source_no_data_yet", source=s["name"])
    else:
        issues.add("info", "source_quiet", source=s["name"], time=_since(last, now))


def _source_issues(sources: list[dict[str, Any]], now: float, issues: _Issues) -> None:
    for s in sources:
        last: float | None = s["last_frame_at"]
        if last is not None:
            last_frame_age = now - last
            s["last_frame_at"] = local_iso(last)
        else:
            last_frame_age = None
        if s["kind"] == "file":
            continue
        if s["state"] == "retrying":
            # the device's or the network's own error; the sources add when they retry
            retry = _RETRY.fullmatch(s["detail"])
            if retry:
                issues.add("error", "source_retrying", source=s["name"], error=retry[1],
                           seconds=retry[2])  # fmt: skip
            else:
                issues.add("error", "source_failing", source=s["name"], error=s["detail"])
        elif last_frame_age is None or last_frame_age > 60:
            _quiet_issue(s, last, now, issues)
        total = s["frames_ok"] + s["crc_errors"] + s["undecodable"]
        if total >= 20 and (s["crc_errors"] + s["undecodable"]) / total > 0.1:
            issues.add("warning", "source_rejects", source=s["name"])


def _database_health(ctx: ReaderContext, issues: _Issues) -> dict[str, Any]:
    try:
        database: dict[str, Any] = {"ok": True, **queries.database_health(ctx.engine)}
    except Exception as exc:
        database = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        issues.add("error", "database_failing", error=str(exc))
    if ctx.writer is not None:
        stats = ctx.writer.stats
        database["writer"] = {
            "pending": ctx.writer.pending,
            "flushes": stats.flushes,
            "readings_written": stats.readings_written,
            "last_error": stats.last_error,
        }
        if stats.last_error:
            # reading works, writing does not: the database is not healthy
            database["ok"] = False
            issues.add("error", "storage_failing", error=stats.last_error)
    return database


def _cost_rules_issue(ctx: ReaderContext, now: float, issues: _Issues) -> None:
    """Say when the dated public rules the cost needs run out (they are data in the package)."""
    if ctx.cost_plan is None or not ctx.prices_zone:
        return
    end = ctx.cost_plan.rules.known_until()
    today = dt.datetime.fromtimestamp(now, LOCAL_TZ).date()
    if today >= end:
        issues.add("warning", "cost_rules_ended", date=end.isoformat())
    elif (end - today).days <= RULES_NOTICE_DAYS:
        issues.add("info", "cost_rules_ending", date=end.isoformat())


def health(ctx: ReaderContext, language: str = DEFAULT_LANG) -> dict[str, Any]:
    """The reader's state; each issue's ``message`` in ``language`` (nb, nn or en)."""
    now = ctx.clock()
    issues = _Issues(language)
    sources = [s.to_json(now) for s in ctx.hub.sources] if ctx.hub else []
    _source_issues(sources, now, issues)
    database = _database_health(ctx, issues)
    mqtt = ctx.mqtt_status() if ctx.mqtt_status else {"enabled": False}
    if mqtt.get("enabled") and not mqtt.get("connected"):
        error = mqtt.get("error") or issues.catalog.gettext(MQTT_CONNECTING)
        issues.add("warning", "mqtt_disconnected", error=str(error))
    prices = ctx.price_status() if ctx.price_status else {"enabled": False}
    if prices.get("problem"):
        issues.add("warning", "prices_failing", error=str(prices["problem"]))
    _cost_rules_issue(ctx, now, issues)
    backups: dict[str, Any] = ctx.backup_status() if ctx.backup_status else {"enabled": False}
    last_backup: dict[str, Any] | None = backups.get("last")
    if last_backup and not last_backup["ok"]:
        issues.add("warning", "backup_failed", error=last_backup["error"])
    return {
        "version": __version__,
        "uptime_s": round(now - ctx.started_at, 1),
        "prices": prices,
        "backup": backups,
        "sources": sources,
        "database": database,
        "mqtt": mqtt,
        "issues": list(issues),
    }


def cheapest_ahead(ctx: ReaderContext, count: int) -> list[dict[str, Any]]:
    """The ``count`` cheapest cached spot hours from this hour to the end of tomorrow, by the
    reader's clock (prices are real dates, not a fast meter's); empty without a zone."""
    from hanport.reader.prices.store import spot_prices

    if not ctx.prices_zone:
        return []
    now = dt.datetime.fromtimestamp(ctx.clock(), LOCAL_TZ)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    day_after_tomorrow = (now + dt.timedelta(days=2)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with ctx.engine.connect() as conn:
        window = (this_hour.astimezone(dt.UTC), day_after_tomorrow.astimezone(dt.UTC))
        spot = spot_prices(conn, ctx.prices_zone, *window)
    return [
        {
            "start": dt.datetime.fromtimestamp(start, LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
            "tomorrow": dt.datetime.fromtimestamp(start, LOCAL_TZ).date() != now.date(),
            "nok_per_kwh": price,
        }
        for start, price in cheapest_hours(spot, this_hour, count)
    ]


def prices(ctx: ReaderContext, day: str, zone: str | None = None) -> dict[str, Any]:
    """The cached spot prices of local day ``day`` (YYYY-MM-DD) in ``zone``."""
    from hanport.reader.prices.entsoe import ZONES
    from hanport.reader.prices.store import spot_prices

    chosen = (zone or ctx.prices_zone or "").upper()
    if chosen not in ZONES:
        raise AnswerError(f"unknown or no bidding zone {chosen!r}; known: {', '.join(ZONES)}")
    try:
        local = dt.date.fromisoformat(day)
    except ValueError:
        raise AnswerError(f"date must be YYYY-MM-DD, not {day!r}") from None
    start = dt.datetime.fromtimestamp(_local_midnight(local), dt.UTC)
    end = dt.datetime.fromtimestamp(_local_midnight(local + dt.timedelta(days=1)), dt.UTC)
    with ctx.engine.connect() as conn:
        found = spot_prices(conn, chosen, start, end)
    return {
        "zone": chosen,
        "date": local.isoformat(),
        "currency": "NOK",
        "prices": [
            {
                "start": price.start.isoformat(),
                "end": price.end.isoformat(),
                "eur_per_mwh": price.eur_per_mwh,
                "nok_per_kwh": round(price.nok_per_kwh, 5),
            }
            for price in found
        ],
    }
