"""Read side of the database: what the API, export and dashboard ask for."""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from collections.abc import Collection, Iterable, Sequence
from itertools import pairwise
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection, Engine, Integer, cast, func, select

from hanport.reader.energy import (
    HOUR,
    LOCAL_TZ,
    CapacityStep,
    TariffResult,
    capacity_tariff,
    hour_start,
    local_iso,
    this_hour,
)
from hanport.reader.storage.schema import (
    READING_COLUMNS,
    days,
    hours,
    meters,
    raw_frames,
    readings,
    registers,
)

__all__ = [
    "ENERGY_COLUMNS",
    "QueryError",
    "StoredNow",
    "days_between",
    "hours_between",
    "import_hours",
    "last_seen",
    "list_meters",
    "meter_ids",
    "month_bounds",
    "months_between",
    "now_from_db",
    "parse_time",
    "readings_between",
    "recent_frames",
    "tariff_for_month",
]


class QueryError(ValueError):
    """A bad query parameter (the API answers 422 with this message)."""


def parse_time(text: str) -> float:
    """Local ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` (or ISO with offset) → POSIX seconds."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(
            f"ugyldig tid / invalid time {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.timestamp()


def month_bounds(month: str) -> tuple[int, int]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = dt.datetime(year, mon, 1, tzinfo=LOCAL_TZ)
    except ValueError:
        raise QueryError(f"ugyldig måned / invalid month {month!r}: use YYYY-MM") from None
    nxt = dt.datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=LOCAL_TZ)
    return int(start.timestamp()), int(nxt.timestamp())


def meter_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(meters.c.meter_id).order_by(meters.c.meter_id)).scalars())


def list_meters(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(meters).order_by(meters.c.meter_id)).mappings().all()
    return [
        {
            "meter_id": r["meter_id"],
            "manufacturer": r["manufacturer"],
            "meter_type": r["meter_type"],
            "list_version": r["list_version"],
            "first_seen": local_iso(r["first_seen"]),
            "last_seen": local_iso(r["last_seen"]),
        }
        for r in rows
    ]


#: the keys of an energy row, in order
ENERGY_COLUMNS: Final = (
    "meter_id",
    "start",
    "active_energy_import_kwh",
    "active_energy_export_kwh",
    "net_kwh",
    "estimated",
)


def _hour_row(
    meter_id: str, start: float, imp: float, exp: float, est: bool, source: str
) -> dict[str, Any]:
    return _energy_row(meter_id, start, imp, exp, est) | {"source": source}


def _energy_row(meter_id: str, start: float, imp: float, exp: float, est: bool) -> dict[str, Any]:
    return {
        "meter_id": meter_id,
        "start": local_iso(start),
        "active_energy_import_kwh": round(imp, 6),
        "active_energy_export_kwh": round(exp, 6),
        "net_kwh": round(imp - exp, 6),  # prosumers: > 0 bought, < 0 sold in the period
        "estimated": bool(est),
    }


def hours_between(
    conn: Connection, start: float, end: float, meter_id: str | None = None
) -> list[dict[str, Any]]:
    hc = hours.c
    stmt = (
        select(
            hc.meter_id,
            hc.start,
            hc.active_energy_import_kwh,
            hc.active_energy_export_kwh,
            hc.estimated,
            hc.source,
        )
        .where(hc.start >= int(start), hc.start < end)
        .order_by(hc.meter_id, hc.start)
    )
    if meter_id:
        stmt = stmt.where(hc.meter_id == meter_id)
    return [_hour_row(*row) for row in conn.execute(stmt)]


def days_between(
    conn: Connection, start: float, end: float, meter_id: str | None = None
) -> list[dict[str, Any]]:
    dc = days.c
    stmt = (
        select(
            dc.meter_id,
            dc.start,
            dc.active_energy_import_kwh,
            dc.active_energy_export_kwh,
            dc.estimated,
        )
        .where(dc.start >= int(start), dc.start < end)
        .order_by(dc.meter_id, dc.start)
    )
    if meter_id:
        stmt = stmt.where(dc.meter_id == meter_id)
    return [_energy_row(*row) for row in conn.execute(stmt)]


def months_between(
    conn: Connection, start: float, end: float, meter_id: str | None = None
) -> list[dict[str, Any]]:
    """Month rollups, summed from the day rollups (twelve rows a year need no table)."""
    grouped: dict[tuple[str, str], list[Any]] = {}
    dc = days.c
    stmt = select(
        dc.meter_id, dc.day, dc.active_energy_import_kwh, dc.active_energy_export_kwh, dc.estimated
    ).where(dc.start >= int(start), dc.start < end)
    if meter_id:
        stmt = stmt.where(dc.meter_id == meter_id)
    for mid, day, imp, exp, est in conn.execute(stmt):
        slot = grouped.setdefault((mid, day[:7]), [0.0, 0.0, False])
        slot[0] += imp
        slot[1] += exp
        slot[2] = slot[2] or bool(est)
    result = []
    for (mid, month), (imp, exp, est) in sorted(grouped.items()):
        result.append(_energy_row(mid, month_bounds(month)[0], imp, exp, est))
    return result


def _latest_at(conn: Connection, meter_id: str) -> float | None:
    return conn.execute(
        select(func.max(readings.c.at)).where(readings.c.meter_id == meter_id)
    ).scalar()


def _samples(
    conn: Connection, meter_id: str, start: float, end: float
) -> list[tuple[float, Any, Any]]:
    rc = readings.c
    rows = conn.execute(
        select(rc.at, rc.active_power_import_w, rc.active_power_export_w)
        .where(rc.meter_id == meter_id, rc.at >= start, rc.at <= end)
        .order_by(rc.at)
    ).all()
    return [(float(r[0]), r[1], r[2]) for r in rows if r[1] is not None or r[2] is not None]


def import_power(
    conn: Connection, meter_id: str, start: float, end: float
) -> list[tuple[float, float | None]]:
    """(time, import W) of the meter's readings in [start, end), oldest first."""
    rc = readings.c
    rows = conn.execute(
        select(rc.at, rc.active_power_import_w)
        .where(rc.meter_id == meter_id, rc.at >= start, rc.at < end)
        .order_by(rc.at)
    ).all()
    return [(float(r[0]), None if r[1] is None else float(r[1])) for r in rows]


def _hour_energy(conn: Connection, meter_id: str, start: int) -> tuple[float, float] | None:
    row = conn.execute(
        select(hours.c.active_energy_import_kwh, hours.c.active_energy_export_kwh).where(
            hours.c.meter_id == meter_id, hours.c.start == start
        )
    ).first()
    return (row[0], row[1]) if row else None


class StoredNow(NamedTuple):
    """A meter's /api/now object as the database knows it, with what its age is taken from."""

    now: dict[str, Any]
    received_at: float  # POSIX seconds: when the latest reading arrived
    push_interval_s: float | None  # median seconds between its latest arrivals; None: one


def last_seen(conn: Connection, meter_id: str | None = None) -> dict[str, float]:
    """Each meter's time of its latest reading, from the small meters table (one query)."""
    stmt = select(meters.c.meter_id, meters.c.last_seen)
    if meter_id:
        stmt = stmt.where(meters.c.meter_id == meter_id)
    return {str(mid): float(seen) for mid, seen in conn.execute(stmt)}


def now_from_db(conn: Connection, meter_id: str) -> StoredNow | None:
    """The /api/now object of a meter from the database (``hanport serve``): its latest values,
    this hour so far and its projection as of the latest push, and the last hour."""
    rc = readings.c
    latest_at = _latest_at(conn, meter_id)
    if latest_at is None:
        return None
    # the latest value of each field (the hourly list and the 10 s list carry different ones)
    rows = (
        conn.execute(
            select(readings)
            .where(rc.meter_id == meter_id, rc.at >= latest_at - 2 * HOUR)
            .order_by(rc.at)
        )
        .mappings()
        .all()
    )
    values: dict[str, Any] = {"meter_id": meter_id}
    arrivals: list[float] = []
    for row in rows:
        values["list_kind"] = row["list_kind"]
        for name in READING_COLUMNS:
            if row[name] is not None:
                values[name] = row[name]
        if row["extra"]:
            values.update(json.loads(row["extra"]))
        if row["meter_clock"]:
            values["meter_clock"] = row["meter_clock"]
        arrivals.append(float(row["received_at"]))
    info = conn.execute(select(meters).where(meters.c.meter_id == meter_id)).mappings().first()
    if info:
        for key in ("manufacturer", "meter_type", "list_version"):
            if info[key]:
                values[key] = info[key]
    received_at = arrivals[-1] if arrivals else latest_at
    gaps = [b - a for a, b in pairwise(arrivals[-16:]) if b > a]
    interval = statistics.median(gaps) if gaps else None
    return StoredNow(derive_now(values, received_at, latest_at, conn=conn), received_at, interval)


def derive_now(
    values: dict[str, Any],
    received_at: float,
    latest_at: float,
    *,
    conn: Connection | None = None,
    samples: Iterable[tuple[float, Any, Any]] | None = None,
    last_hour: tuple[float, float] | None = None,
) -> dict[str, Any]:
    mid = str(values["meter_id"])
    start = hour_start(latest_at)
    if samples is None and conn is not None:
        samples = _samples(conn, mid, start, latest_at)
    so_far, projection, exported = this_hour(samples or [], latest_at)
    if last_hour is None and conn is not None:
        last_hour = _hour_energy(conn, mid, start - HOUR)
    return {
        **values,
        "at": local_iso(latest_at),
        "received_at": local_iso(received_at),
        "this_hour_kwh": so_far,
        "this_hour_export_kwh": exported,
        "this_hour_projection_kwh": projection,
        "last_hour_kwh": last_hour[0] if last_hour else None,
        "last_hour_export_kwh": last_hour[1] if last_hour else None,
    }


def import_hours(
    conn: Connection, meter_id: str, start: float, end: float
) -> list[tuple[int, float]]:
    """(hour start, import kWh) of the meter's booked hours in the window."""
    rows = conn.execute(
        select(hours.c.start, hours.c.active_energy_import_kwh).where(
            hours.c.meter_id == meter_id, hours.c.start >= start, hours.c.start < end
        )
    ).all()
    return [(int(r[0]), float(r[1])) for r in rows]


def tariff_for_month(
    conn: Connection,
    month: str,
    steps: Sequence[CapacityStep],
    meter_id: str | None = None,
    now: float | None = None,
    *,
    fresh: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The month's capacity tariff per meter. The running hour is projected only for meters
    in ``fresh`` (None: all): a stale reading's power may be long gone."""
    start, end = month_bounds(month)
    ids = [meter_id] if meter_id else meter_ids(conn)
    result = []
    for mid in ids:
        hour_list = import_hours(conn, mid, start, end)
        projection = None
        latest_at = _latest_at(conn, mid)
        reference = latest_at if now is None else now
        projecting = fresh is None or mid in fresh
        if (
            projecting
            and latest_at is not None
            and reference is not None
            and start <= reference < end
        ):
            current = hour_start(reference)
            _, projected, _ = this_hour(_samples(conn, mid, current, reference), reference)
            projection = (current, projected)
        tariff: TariffResult = capacity_tariff(hour_list, steps, projection=projection)
        result.append(
            {
                "meter_id": mid,
                "month": month,
                "peaks": [{"start": local_iso(p.start), "kwh": p.kwh} for p in tariff.peaks],
                "average_kw": tariff.average_kw,
                "step": tariff.step.to_json(),
                "next_step": tariff.next_step.to_json() if tariff.next_step else None,
                "headroom_kw": tariff.headroom_kw,
                "this_hour_projection_kwh": projection[1] if projection else None,
                "warning": tariff.warning,
            }
        )
    return result


def readings_between(
    conn: Connection,
    meter_id: str,
    start: float,
    end: float,
    fields: Sequence[str] | None = None,
    *,
    max_points: int = 2000,
) -> list[dict[str, Any]]:
    """Readings in the window; averaged into time buckets when there would be more than
    ``max_points``."""
    fields = list(fields or READING_COLUMNS)
    unknown = [f for f in fields if f not in READING_COLUMNS]
    if unknown:
        raise QueryError(
            f"ukjente felt / unknown fields {unknown}; known: {', '.join(READING_COLUMNS)}"
        )
    rc = readings.c
    where = (rc.meter_id == meter_id, rc.at >= start, rc.at < end)
    count = conn.execute(select(func.count()).select_from(readings).where(*where)).scalar() or 0
    columns = [rc[f] for f in fields]
    if count <= max_points:
        rows = conn.execute(select(rc.at, *columns).where(*where).order_by(rc.at)).all()
        return [
            {"meter_id": meter_id, "at": local_iso(r[0]), **dict(zip(fields, r[1:], strict=True))}
            for r in rows
        ]
    bucket = max(1, math.ceil((end - start) / max_points))
    key: Any
    if conn.dialect.name == "postgresql":
        key = func.floor((rc.at - start) / bucket)
    else:
        key = cast((rc.at - start) / bucket, Integer)  # SQLite truncates toward zero
    stmt = (
        select(key.label("bucket"), *(func.avg(c).label(c.name) for c in columns))
        .where(*where)
        .group_by(key)
        .order_by(key)
    )
    return [
        {
            "meter_id": meter_id,
            "at": local_iso(start + int(r[0]) * bucket),
            **{
                f: (round(v, 3) if v is not None else None)
                for f, v in zip(fields, r[1:], strict=True)
            },
        }
        for r in conn.execute(stmt)
    ]


def recent_frames(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    rf = raw_frames.c
    rows = conn.execute(select(raw_frames).order_by(rf.id.desc()).limit(limit)).mappings().all()
    return [
        {
            "received_at": local_iso(r["received_at"]),
            "source": r["source"],
            "meter_id": r["meter_id"],
            "hex": bytes(r["frame"]).hex(),
            "ok": bool(r["ok"]),
            "reason": r["reason"],
        }
        for r in rows
    ]


def database_health(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(readings.c.at))).scalar()
        n_meters = conn.execute(select(func.count()).select_from(meters)).scalar()
        last_register = conn.execute(select(func.max(registers.c.at))).scalar()
    return {
        "backend": engine.dialect.name,
        "url": engine.url.render_as_string(hide_password=True),
        "meters": n_meters,
        "latest_reading_at": local_iso(latest) if latest else None,
        "latest_register_at": local_iso(last_register) if last_register else None,
    }
