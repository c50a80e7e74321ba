"""Batched writer: pushes and rejected frames → one transaction per flush.

Durability: the service flushes every ``flush_interval`` (0.5 s by default), so a killed
process loses at most the last half second; SIGTERM calls ``flush(final=True)``. Each flush is
one transaction (readings, registers, hours and day rollups together), so the database is never
left half-written. Re-sent pushes are ignored by the unique (meter, time, list) key, which is
what lets several reader processes share one PostgreSQL without duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, text, update

from hanport.reader.energy import HOUR, HourEnergy, RegisterPoint, hour_start
from hanport.reader.model import Push, RejectedFrame
from hanport.reader.storage import partitions
from hanport.reader.storage.booking import BookingBatch, previous_register, rebook
from hanport.reader.storage.schema import READING_COLUMNS, meters, raw_frames, readings, registers
from hanport.reader.storage.upsert import insert_ignore

__all__ = ["Writer", "WriterStats"]

_CONTRACT_META = {
    "manufacturer",
    "list_kind",
    "list_version",
    "meter_id",
    "meter_type",
    "meter_number",
    "notification_time",
    "meter_clock",
}
_REGISTER_KEYS = (
    "active_energy_import_kwh",
    "active_energy_export_kwh",
    "reactive_energy_import_kvarh",
    "reactive_energy_export_kvarh",
)


@dataclass(slots=True)
class _MeterState:
    last_register: RegisterPoint | None = None
    register_loaded: bool = False
    latest_at: float = 0.0
    pending_hours: set[int] = field(default_factory=set)
    known: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    clock_known: bool = False  # a push with the meter's own time has come


@dataclass(slots=True)
class WriterStats:
    flushes: int = 0
    readings_written: int = 0
    rejected_written: int = 0
    hours_booked: int = 0
    last_flush_at: float | None = None
    last_error: str | None = None
    pending: int = 0


_READING_FIELDS = (
    "meter_id",
    "at",
    "received_at",
    "list_kind",
    "meter_clock",
    *READING_COLUMNS,
    "extra",
)
_STORED_KEYS = frozenset(_CONTRACT_META) | frozenset(READING_COLUMNS)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def reading_tuple(push: Push) -> tuple[Any, ...]:
    """The ``readings`` row of a push, in ``_READING_FIELDS`` order (the hot path of an import)."""
    values = push.values
    get = values.get
    extra = {k: v for k, v in values.items() if k not in _STORED_KEYS and v is not None}
    return (
        push.meter_id,
        push.at,
        push.received_at,
        push.list_kind,
        get("meter_clock"),
        *(_number(get(name)) for name in READING_COLUMNS),
        json.dumps(extra, separators=(",", ":")) if extra else None,
    )


def _insert_readings(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert, skipping pushes already stored (re-sent frames, replays, a second reader).

    Batches go straight to the driver: SQLite's executemany, PostgreSQL's COPY into a staging
    table, then one INSERT … ON CONFLICT DO NOTHING into (the month partitions of) readings.
    Per-row executemany through the SQL layer costs more than decoding the frame did.
    """
    columns = ", ".join(_READING_FIELDS)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(_READING_FIELDS))
        conn.exec_driver_sql(f"INSERT OR IGNORE INTO readings ({columns}) VALUES ({marks})", rows)
        return
    if conn.dialect.name != "postgresql":
        conn.execute(
            insert_ignore(conn, readings, ["meter_id", "at", "list_kind"]),
            [dict(zip(_READING_FIELDS, row, strict=True)) for row in rows],
        )
        return
    # COPY into a temporary table, then INSERT … ON CONFLICT DO NOTHING; on the same driver
    # connection, so it is part of the flush's transaction
    driver = conn.connection.driver_connection
    with driver.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS readings_incoming "
            "(LIKE readings INCLUDING DEFAULTS EXCLUDING IDENTITY) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY readings_incoming ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO readings ({columns}) SELECT {columns} FROM readings_incoming "
            "ON CONFLICT (meter_id, at, list_kind) DO NOTHING"
        )
        cur.execute("DELETE FROM readings_incoming")


def _lock_meters(conn: Connection, meter_ids: set[str]) -> None:
    """PostgreSQL: hold the meters whose registers this flush writes until it commits.

    Two readers may get consecutive hourly lists of one meter; the second waits here for the
    first's commit, and then books the hour between them from both registers (its statements
    see what was committed before they began). Taken first, in key order: no deadlock.
    """
    if not meter_ids or conn.dialect.name != "postgresql":
        return
    conn.execute(
        text(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext(m) AS k "
            "FROM unnest(CAST(:ids AS text[])) AS m ORDER BY k) AS keys"
        ),
        {"ids": sorted(meter_ids)},
    )


class Writer:
    """Collects pushes and writes them in batches; ``flush`` is synchronous and thread-safe."""

    def __init__(
        self,
        engine: Engine,
        *,
        store_raw_frames: bool = True,
        flush_interval: float = 0.5,
        booking_grace_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.store_raw_frames = store_raw_frames
        self.flush_interval = flush_interval
        self.booking_grace_s = booking_grace_s
        self.clock = clock  #: POSIX seconds; stamps each flush (``stats.last_flush_at``)
        self.stats = WriterStats()
        self._pushes: list[Push] = []
        self._rejected: list[RejectedFrame] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._meters: dict[str, _MeterState] = {}
        self._partitioned: bool | None = None  # PostgreSQL with migration 0004
        self._months: set[tuple[int, int]] = set()  # whose partitions exist
        self._accepted = 0  # pushes and rejected frames handed over, ever
        self.committed = 0  #: how many of them are committed (``mark`` positions)
        self._commit_listeners: list[Callable[[int], None]] = []

    # -- commit positions (pipeline.CommitLog) ------------------------------------------------
    def mark(self) -> int:
        """The position after everything added so far; committed once ``committed`` >= it."""
        return self._accepted

    def on_commit(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """``listener(committed)`` runs in the event loop after each flush of ``run``."""
        self._commit_listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._commit_listeners.remove(listener)

        return remove

    def _notify(self) -> None:
        for listener in list(self._commit_listeners):
            listener(self.committed)

    # -- collecting -------------------------------------------------------------------------
    def add(self, push: Push) -> None:
        with self._lock:
            self._pushes.append(push)
            self._accepted += 1

    def add_rejected(self, rejected: RejectedFrame) -> None:
        with self._lock:
            self._rejected.append(rejected)
            self._accepted += 1

    @property
    def pending(self) -> int:
        return len(self._pushes) + len(self._rejected)

    # -- writing ----------------------------------------------------------------------------
    def flush(self, *, final: bool = False) -> int:
        """Write everything collected so far in one transaction; returns the pushes written.

        ``final`` also books the last complete hours that have no hourly list yet (end of an
        import, shutdown).
        """
        with self._flush_lock:
            with self._lock:
                pushes, self._pushes = self._pushes, []
                rejected, self._rejected = self._rejected, []
                upto = self._accepted
            if not pushes and not rejected and not final:
                self.committed = upto
                return 0
            try:
                with self.engine.begin() as conn:
                    self._write(conn, pushes, rejected, final=final)
            except Exception as exc:
                # keep the batch: nothing is lost while the database is away
                with self._lock:
                    self._pushes[:0] = pushes
                    self._rejected[:0] = rejected
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                raise
            self.committed = upto
            self.stats.flushes += 1
            self.stats.last_flush_at = self.clock()
            self.stats.readings_written += len(pushes)
            self.stats.rejected_written += len(rejected)
            self.stats.last_error = None
            self.stats.pending = self.pending
            return len(pushes)

    def _state(self, meter_id: str) -> _MeterState:
        state = self._meters.get(meter_id)
        if state is None:
            state = self._meters[meter_id] = _MeterState()
        return state

    def _write(
        self,
        conn: Connection,
        pushes: list[Push],
        rejected: list[RejectedFrame],
        *,
        final: bool,
    ) -> None:
        by_meter: dict[str, list[Push]] = {}
        for push in pushes:
            by_meter.setdefault(push.meter_id, []).append(push)
        _lock_meters(conn, {p.meter_id for p in pushes if p.register_hour is not None})
        self._write_meters(conn, by_meter)
        if pushes:
            self._ensure_partitions(conn, pushes)
            _insert_readings(conn, [reading_tuple(p) for p in pushes])
        frames = []
        if self.store_raw_frames:
            frames += [
                {
                    "received_at": p.received_at,
                    "source": p.source[:128],
                    "meter_id": p.meter_id,
                    "ok": True,
                    "reason": None,
                    "frame": p.frame,
                }
                for p in pushes
                if p.frame
            ]
        # rejected frames are kept even without raw storage: they are the diagnosis
        frames += [
            {
                "received_at": r.received_at,
                "source": r.source[:128],
                "meter_id": None,
                "ok": False,
                "reason": f"{r.kind}: {r.reason}",
                "frame": r.frame,
            }
            for r in rejected
        ]
        if frames:
            conn.execute(raw_frames.insert(), frames)
        # in key order, as the meters' rows below
        with_registers = sorted(
            (p for p in pushes if p.register_hour is not None),
            key=lambda p: (p.meter_id, p.register_hour or 0),
        )
        register_rows = [
            {
                "meter_id": p.meter_id,
                "at": p.register_hour,
                **{k: p.values.get(k) for k in _REGISTER_KEYS},
            }
            for p in with_registers
        ]
        if register_rows:
            conn.execute(insert_ignore(conn, registers, ["meter_id", "at"]), register_rows)
        meter_ids = set(by_meter) | (set(self._meters) if final else set())
        batch = BookingBatch()
        batch.registered = [(p.meter_id, p.register_hour or 0) for p in with_registers]
        for meter_id in sorted(meter_ids):
            self._book(conn, meter_id, by_meter.get(meter_id, []), final=final, batch=batch)
        self.stats.hours_booked += batch.finish(conn)

    def _ensure_partitions(self, conn: Connection, pushes: list[Push]) -> None:
        """A month's partition before its first reading (the retention job makes them ahead;
        a replay of an old capture or a meter with a wrong clock needs one now)."""
        if self._partitioned is None:
            self._partitioned = partitions.is_partitioned(conn)
        if self._partitioned:
            days = {int(p.at) // 86400 for p in pushes}
            partitions.ensure(conn, {partitions.month_of(d * 86400) for d in days}, self._months)

    def _write_meters(self, conn: Connection, by_meter: dict[str, list[Push]]) -> None:
        new_rows: list[dict[str, Any]] = []
        seen: list[dict[str, Any]] = []
        for meter_id, group in by_meter.items():
            state = self._state(meter_id)
            last_seen = max(p.at for p in group)
            info = {
                "manufacturer": group[0].values.get("manufacturer") or group[0].manufacturer,
                "meter_type": next(
                    (p.values["meter_type"] for p in group if p.values.get("meter_type")), None
                ),
                "list_version": next(
                    (p.values["list_version"] for p in group if p.values.get("list_version")),
                    None,
                ),
            }
            if not state.known:
                first_seen = min(p.at for p in group)
                new_rows.append(
                    {"meter_id": meter_id, "first_seen": first_seen, "last_seen": last_seen, **info}
                )
                state.known = True
                state.info = info
            elif any(v and v != state.info.get(k) for k, v in info.items()):
                changed = {k: v for k, v in info.items() if v}
                conn.execute(update(meters).where(meters.c.meter_id == meter_id).values(**changed))
                state.info.update(changed)
            seen.append({"b_meter_id": meter_id, "b_last_seen": last_seen})
        # in key order: readers sharing a stream lock the same meters' rows in the same order,
        # so they wait for each other instead of deadlocking
        new_rows.sort(key=lambda row: str(row["meter_id"]))
        seen.sort(key=lambda row: str(row["b_meter_id"]))
        if new_rows:
            conn.execute(insert_ignore(conn, meters, ["meter_id"]), new_rows)
        if seen:
            # one statement for all meters of the flush (a scale-out reader has thousands)
            conn.execute(
                update(meters)
                .where(
                    meters.c.meter_id == bindparam("b_meter_id"),
                    meters.c.last_seen < bindparam("b_last_seen"),
                )
                .values(last_seen=bindparam("b_last_seen")),
                seen,
            )

    def _book(
        self,
        conn: Connection,
        meter_id: str,
        group: list[Push],
        *,
        final: bool,
        batch: BookingBatch,
    ) -> None:
        """Follow one meter's registers; consecutive hours, due hours and day rollups go to
        ``batch`` (written set-based for the whole flush), gaps are rebooked here."""
        state = self._state(meter_id)
        touched: set[str] = set()
        booked: list[HourEnergy] = []
        for push in sorted(group, key=lambda p: p.at):
            if push.clock == "meter" and not state.clock_known:
                state.clock_known = True
                if state.latest_at > push.at:
                    # the reader's clock (all there was before the meter's first timed push)
                    # ran ahead of the meter's: hours are due by the meter's time
                    state.latest_at = push.at
                    state.pending_hours = {h for h in state.pending_hours if h <= push.at}
            state.latest_at = max(state.latest_at, push.at)
            hour = hour_start(push.at)
            if state.last_register is None or hour >= state.last_register.at:
                state.pending_hours.add(hour)
            if push.register_hour is None:
                continue
            point = RegisterPoint(
                push.register_hour,
                push.values.get("active_energy_import_kwh"),
                push.values.get("active_energy_export_kwh"),
            )
            if not state.register_loaded:
                state.last_register = previous_register(conn, meter_id, point.at)
                state.register_loaded = True
            prev = state.last_register
            if prev is not None and point.at == prev.at:
                continue  # the same hourly list again
            if prev is not None and point.at > prev.at:
                if (
                    point.at - prev.at == HOUR
                    and point.import_kwh is not None
                    and prev.import_kwh is not None
                    and point.import_kwh >= prev.import_kwh
                    and (point.export_kwh or 0.0) >= (prev.export_kwh or 0.0)
                ):
                    booked.append(
                        HourEnergy(
                            prev.at,
                            round(point.import_kwh - prev.import_kwh, 6),
                            round((point.export_kwh or 0.0) - (prev.export_kwh or 0.0), 6),
                            False,
                        )
                    )
                else:
                    batch.add_hours(meter_id, booked)
                    booked = []
                    touched |= rebook(conn, meter_id, prev.at, point.at - HOUR)
                state.last_register = point
            else:
                # first register ever, or one older than the newest (out-of-order replay)
                batch.add_hours(meter_id, booked)
                booked = []
                older = previous_register(conn, meter_id, point.at)
                touched |= rebook(
                    conn, meter_id, older.at if older else point.at - HOUR, point.at - HOUR
                )
                if prev is None:
                    state.last_register = point
                else:
                    touched |= rebook(conn, meter_id, point.at, prev.at - HOUR)
            newest = state.last_register.at if state.last_register else point.at
            state.pending_hours = {h for h in state.pending_hours if h >= newest}
        batch.add_hours(meter_id, booked)
        # hours whose hourly list has not come (yet): estimate them from integrated power
        # at the end (import done, shutdown) an hour counts as complete when its last push
        # (every 10 s on Kamstrup) has been seen
        grace = -10.0 if final else self.booking_grace_s
        due = sorted(h for h in state.pending_hours if h + HOUR + grace <= state.latest_at)
        for h in due:
            batch.due.append((meter_id, h))
            state.pending_hours.discard(h)
        batch.touch(meter_id, touched)

    # -- service loop -----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_interval`` until ``stop`` is set, then flush the rest."""
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.flush_interval)
                try:
                    await asyncio.to_thread(self.flush)
                except Exception:
                    await asyncio.sleep(min(5.0, self.flush_interval * 4))
                else:
                    self._notify()
        finally:
            await asyncio.to_thread(self.flush, final=True)
            self._notify()


def latest_register(conn: Connection, meter_id: str) -> RegisterPoint | None:
    row = conn.execute(
        select(
            registers.c.at,
            registers.c.active_energy_import_kwh,
            registers.c.active_energy_export_kwh,
        )
        .where(registers.c.meter_id == meter_id)
        .order_by(registers.c.at.desc())
        .limit(1)
    ).first()
    return RegisterPoint(int(row[0]), row[1], row[2]) if row else None
