"""Monthly partitions of ``readings`` on PostgreSQL (reader migration 0004); SQLite has none.

``readings`` is partitioned by range of ``at`` (POSIX seconds), one partition per UTC month,
named ``readings_YYYY_MM``. There is no default partition: the writer makes the partition of a
month it has not seen before inside its flush (``ensure``), and the retention job makes the
coming months' ahead (``create_ahead``) and detaches and drops the months wholly older than
``readings_days`` (``drop_before``), which costs no row-by-row DELETE and no VACUUM.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import Connection, text

__all__ = [
    "AHEAD_MONTHS",
    "create_ahead",
    "drop_before",
    "ensure",
    "existing",
    "is_partitioned",
    "month_of",
    "partition_name",
]

#: months the retention job creates beyond the current one
AHEAD_MONTHS = 2


def month_of(at: float) -> tuple[int, int]:
    """(year, month) of POSIX seconds ``at`` in UTC."""
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    return when.year, when.month


def _bounds(year: int, month: int) -> tuple[int, int]:
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    nxt = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
    return int(start.timestamp()), int(nxt.timestamp())


def partition_name(year: int, month: int) -> str:
    return f"readings_{year:04d}_{month:02d}"


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partrelid WHERE c.relname = 'readings' "
                "AND pg_table_is_visible(c.oid))"
            )
        ).scalar()
    )


def existing(conn: Connection) -> dict[str, tuple[int, int]]:
    """Partition name → (start, end) of every attached partition."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'readings' AND pg_table_is_visible(p.oid)"
        )
    ).all()
    out = {}
    for name, bound in rows:
        # FOR VALUES FROM ('1767225600') TO ('1769904000')
        numbers = _NUMBER.findall(bound)
        out[str(name)] = (int(float(numbers[0])), int(float(numbers[1])))
    return out


def _create(conn: Connection, year: int, month: int) -> None:
    start, end = _bounds(year, month)
    # the lock makes two readers (or a reader and the retention job) take turns
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('hanport.readings.partitions'))"))
    conn.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {partition_name(year, month)} PARTITION OF readings "
            f"FOR VALUES FROM ({start}) TO ({end})"
        )
    )


def ensure(
    conn: Connection, months: Iterable[tuple[int, int]], known: set[tuple[int, int]]
) -> None:
    """Create the partitions of ``months`` not in ``known`` (this process's cache; updated)."""
    missing = sorted(set(months) - known)
    if not missing:
        return
    have = {month_of(start) for start, _ in existing(conn).values()}
    for year, month in missing:
        if (year, month) not in have:
            _create(conn, year, month)
        known.add((year, month))


def create_ahead(conn: Connection, now: float, months: int = AHEAD_MONTHS) -> list[str]:
    """Make the partitions of the current month and the ``months`` after it; returns the new."""
    year, month = month_of(now)
    have = set(existing(conn))
    made = []
    for _ in range(months + 1):
        name = partition_name(year, month)
        if name not in have:
            _create(conn, year, month)
            made.append(name)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return made


def drop_before(conn: Connection, cutoff: float) -> list[str]:
    """Detach and drop every partition whose months end at or before ``cutoff``."""
    dropped = []
    for name, (_, end) in sorted(existing(conn).items()):
        if end <= cutoff:
            conn.execute(text(f"ALTER TABLE readings DETACH PARTITION {name}"))
            conn.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped
