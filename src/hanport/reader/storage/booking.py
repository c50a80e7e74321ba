"""Book hourly energy from registers (gap-aware) and keep the day rollups in step.

Runs inside the writer's transaction, so readings, registers, hours and days always agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, func, select

from hanport.reader.energy import (
    HOUR,
    LOCAL_TZ,
    HourEnergy,
    RegisterPoint,
    book_hours,
    integrate_power_by_hour,
    local_day,
)
from hanport.reader.storage.schema import days, hours, readings, registers
from hanport.reader.storage.upsert import upsert

__all__ = ["day_bounds", "previous_register", "rebook", "refresh_days", "write_hours"]


def day_bounds(day: str) -> tuple[int, int]:
    """Local day ``YYYY-MM-DD`` → (start, end) in POSIX seconds (23 or 25 h on DST days)."""
    d = dt.date.fromisoformat(day)
    start = dt.datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ)
    end = start.date() + dt.timedelta(days=1)
    end_dt = dt.datetime(end.year, end.month, end.day, tzinfo=LOCAL_TZ)
    return int(start.timestamp()), int(end_dt.timestamp())


def previous_register(conn: Connection, meter_id: str, before: int) -> RegisterPoint | None:
    row = conn.execute(
        select(
            registers.c.at,
            registers.c.active_energy_import_kwh,
            registers.c.active_energy_export_kwh,
        )
        .where(registers.c.meter_id == meter_id, registers.c.at < before)
        .order_by(registers.c.at.desc())
        .limit(1)
    ).first()
    return RegisterPoint(int(row[0]), row[1], row[2]) if row else None


def _register_points(conn: Connection, meter_id: str, lo: int, hi: int) -> list[RegisterPoint]:
    """Registers in [lo, hi] plus the nearest one on each side."""
    rc = registers.c
    before = conn.execute(
        select(func.max(rc.at)).where(rc.meter_id == meter_id, rc.at <= lo)
    ).scalar()
    after = conn.execute(
        select(func.min(rc.at)).where(rc.meter_id == meter_id, rc.at >= hi)
    ).scalar()
    lo_bound = before if before is not None else lo
    hi_bound = after if after is not None else hi
    rows = conn.execute(
        select(rc.at, rc.active_energy_import_kwh, rc.active_energy_export_kwh)
        .where(rc.meter_id == meter_id, rc.at >= lo_bound, rc.at <= hi_bound)
        .order_by(rc.at)
    ).all()
    return [RegisterPoint(int(r[0]), r[1], r[2]) for r in rows]


def rebook(conn: Connection, meter_id: str, first_hour: int, last_hour: int) -> set[str]:
    """(Re)book the hours ``first_hour..last_hour`` of one meter; returns the touched days."""
    if last_hour < first_hour:
        return set()
    regs = _register_points(conn, meter_id, first_hour, last_hour + HOUR)
    lo = min([first_hour, *(r.at for r in regs)])
    hi = max([last_hour + HOUR, *(r.at for r in regs)])
    rc = readings.c
    samples = conn.execute(
        select(rc.at, rc.active_power_import_w, rc.active_power_export_w)
        .where(rc.meter_id == meter_id, rc.at >= lo, rc.at < hi)
        .order_by(rc.at)
    ).all()
    power = integrate_power_by_hour((float(s[0]), s[1], s[2]) for s in samples)
    booked = book_hours(regs, power, range(first_hour, last_hour + HOUR, HOUR))
    return write_hours(conn, meter_id, booked)


def write_hours(conn: Connection, meter_id: str, booked: Sequence[HourEnergy]) -> set[str]:
    rows = [
        {
            "meter_id": meter_id,
            "start": h.start,
            "active_energy_import_kwh": h.import_kwh,
            "active_energy_export_kwh": h.export_kwh,
            "estimated": h.estimated,
        }
        for h in booked
    ]
    if not rows:
        return set()
    conn.execute(
        upsert(conn, hours, ["meter_id", "start"]),
        rows,
    )
    return {local_day(h.start) for h in booked}


def refresh_days(conn: Connection, meter_id: str, touched: Iterable[str]) -> None:
    """Recompute the rollup of each touched local day from its hours (idempotent)."""
    hc = hours.c
    rows = []
    for day in sorted(set(touched)):
        start, end = day_bounds(day)
        hour_rows = conn.execute(
            select(hc.active_energy_import_kwh, hc.active_energy_export_kwh, hc.estimated).where(
                and_(hc.meter_id == meter_id, hc.start >= start, hc.start < end)
            )
        ).all()
        if not hour_rows:
            continue
        rows.append(
            {
                "meter_id": meter_id,
                "day": day,
                "start": start,
                "active_energy_import_kwh": round(sum(r[0] for r in hour_rows), 6),
                "active_energy_export_kwh": round(sum(r[1] for r in hour_rows), 6),
                "estimated": any(r[2] for r in hour_rows),
                "hours": len(hour_rows),
            }
        )
    if rows:
        conn.execute(upsert(conn, days, ["meter_id", "day"]), rows)
