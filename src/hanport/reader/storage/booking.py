"""Book hourly energy from registers (gap-aware) and keep the day rollups in step.

Runs inside the writer's transaction, so readings, registers, hours and days always agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

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

__all__ = [
    "BookingBatch",
    "day_bounds",
    "previous_register",
    "rebook",
    "refresh_days",
    "refresh_days_many",
    "write_hours",
]


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


_CHUNK = 2000  # meters per IN list (SQLite allows 32,766 parameters, PostgreSQL 65,535)


class BookingBatch:
    """What one flush books, written set-based at its end instead of meter by meter: the
    hours booked from consecutive registers (one multi-row upsert), the pending hours that
    came due (one query per hour drops those another reader already booked from its hourly
    list, on a shared subscription each reader sees every meter but only some hourly lists),
    and the day rollups of every touched day (one query per day)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.due: list[tuple[str, int]] = []
        self.touched: set[tuple[str, str]] = set()
        self.registered: list[tuple[str, int]] = []  # (meter, hour) of the flush's registers

    def add_hours(self, meter_id: str, booked: Sequence[HourEnergy]) -> None:
        for h in booked:
            self.rows.append(
                {
                    "meter_id": meter_id,
                    "start": h.start,
                    "active_energy_import_kwh": h.import_kwh,
                    "active_energy_export_kwh": h.export_kwh,
                    "estimated": h.estimated,
                }
            )
            self.touched.add((meter_id, local_day(h.start)))

    def touch(self, meter_id: str, touched_days: Iterable[str]) -> None:
        self.touched.update((meter_id, day) for day in touched_days)

    def finish(self, conn: Connection) -> int:
        """Write it all; returns the number of (meter, day) rollups refreshed."""
        self._book_neighbours(conn)
        if self.rows:
            # one row per key: a multi-row upsert may not touch a row twice (the last wins)
            rows = {(r["meter_id"], r["start"]): r for r in self.rows}
            conn.execute(upsert(conn, hours, ["meter_id", "start"]), list(rows.values()))
        for meter_id, hour in self._still_due(conn):
            self.touch(meter_id, rebook(conn, meter_id, hour, hour))
        refresh_days_many(conn, self.touched)
        return len(self.touched)

    def _book_neighbours(self, conn: Connection) -> None:
        """The hours on either side of this flush's registers whose other register is stored
        already: another reader may have had it (its hourly list), and this reader's memory
        of the meter knows nothing of it. Booked from the pair, exactly, whatever came first."""
        if not self.registered:
            return
        rc = registers.c
        meter_ids = sorted({m for m, _ in self.registered})
        lo = min(at for _, at in self.registered) - HOUR
        hi = max(at for _, at in self.registered) + HOUR
        stored: dict[tuple[str, int], tuple[float | None, float | None]] = {}
        for i in range(0, len(meter_ids), _CHUNK):
            result = conn.execute(
                select(
                    rc.meter_id, rc.at, rc.active_energy_import_kwh, rc.active_energy_export_kwh
                ).where(rc.meter_id.in_(meter_ids[i : i + _CHUNK]), rc.at >= lo, rc.at <= hi)
            )
            for meter_id, at, imp, exp in result:
                stored[(meter_id, int(at))] = (imp, exp)
        for meter_id, at in sorted(set(self.registered)):
            for start in (at - HOUR, at):
                first = stored.get((meter_id, start))
                last = stored.get((meter_id, start + HOUR))
                if first is None or last is None or first[0] is None or last[0] is None:
                    continue
                imp = last[0] - first[0]
                exp = (last[1] or 0.0) - (first[1] or 0.0)
                if imp >= 0 and exp >= 0:
                    hour = HourEnergy(start, round(imp, 6), round(exp, 6), False)
                    self.add_hours(meter_id, [hour])

    def _still_due(self, conn: Connection) -> list[tuple[str, int]]:
        by_hour: dict[int, set[str]] = {}
        for meter_id, hour in self.due:
            by_hour.setdefault(hour, set()).add(meter_id)
        hc = hours.c
        out = []
        for hour, meter_ids in sorted(by_hour.items()):
            ordered = sorted(meter_ids)
            booked: set[str] = set()
            for i in range(0, len(ordered), _CHUNK):
                booked.update(
                    conn.execute(
                        select(hc.meter_id).where(
                            hc.start == hour,
                            hc.estimated.is_(False),
                            hc.meter_id.in_(ordered[i : i + _CHUNK]),
                        )
                    ).scalars()
                )
            out += [(m, hour) for m in ordered if m not in booked]
        return out


def refresh_days_many(conn: Connection, touched: Iterable[tuple[str, str]]) -> None:
    """``refresh_days`` for many meters: one query per day and chunk, one upsert."""
    by_day: dict[str, set[str]] = {}
    for meter_id, day in touched:
        by_day.setdefault(day, set()).add(meter_id)
    hc = hours.c
    rows = []
    for day, meter_ids in sorted(by_day.items()):
        start, end = day_bounds(day)
        ordered = sorted(meter_ids)
        sums: dict[str, list[Any]] = {}
        for i in range(0, len(ordered), _CHUNK):
            result = conn.execute(
                select(
                    hc.meter_id,
                    hc.active_energy_import_kwh,
                    hc.active_energy_export_kwh,
                    hc.estimated,
                ).where(hc.meter_id.in_(ordered[i : i + _CHUNK]), hc.start >= start, hc.start < end)
            )
            for meter_id, imp, exp, estimated in result:
                acc = sums.setdefault(meter_id, [0.0, 0.0, False, 0])
                acc[0] += imp
                acc[1] += exp
                acc[2] = acc[2] or estimated
                acc[3] += 1
        rows += [
            {
                "meter_id": meter_id,
                "day": day,
                "start": start,
                "active_energy_import_kwh": round(acc[0], 6),
                "active_energy_export_kwh": round(acc[1], 6),
                "estimated": bool(acc[2]),
                "hours": acc[3],
            }
            for meter_id, acc in sorted(sums.items())
        ]
    if rows:
        conn.execute(upsert(conn, days, ["meter_id", "day"]), rows)
