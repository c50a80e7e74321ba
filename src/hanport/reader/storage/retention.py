"""Thin old raw frames and readings; hours, days and registers are never touched.

Defaults follow DSMR-reader's spirit: raw frames for days, 10-second readings for months,
hourly and above for ever. Each run deletes at most ``max_rows`` per table, so a first run on
a large database never holds a long lock; the job simply runs again.

On PostgreSQL, where ``readings`` is partitioned by month (migration 0004), the job instead
detaches and drops the months that lie wholly before the cutoff (so up to a month more than
``readings_days`` is kept) and makes the partitions of the coming months ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, select

from hanport.reader.storage import partitions
from hanport.reader.storage.schema import raw_frames, readings

__all__ = ["RetentionPolicy", "thin"]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    raw_frames_days: float = 7
    readings_days: float = 184  # about six months; 0 keeps them for ever
    max_rows: int = 50_000


def thin(engine: Engine, policy: RetentionPolicy, now: float) -> dict[str, int]:
    """Delete what is older than the policy allows; returns rows deleted per table (and
    ``readings_partitions`` dropped, on PostgreSQL)."""
    deleted = {"raw_frames": 0, "readings": 0}
    with engine.begin() as conn:
        partitioned = partitions.is_partitioned(conn)
        if partitioned:
            partitions.create_ahead(conn, now)
            dropped = []
            if policy.readings_days > 0:
                dropped = partitions.drop_before(conn, now - policy.readings_days * 86400)
            deleted["readings_partitions"] = len(dropped)
        for name, table, days_kept, column in (
            ("raw_frames", raw_frames, policy.raw_frames_days, raw_frames.c.received_at),
            ("readings", readings, policy.readings_days, readings.c.at),
        ):
            if days_kept <= 0 or (partitioned and table is readings):
                continue
            cutoff = now - days_kept * 86400
            ids = (
                select(table.c.id)
                .where(column < cutoff)
                .order_by(table.c.id)
                .limit(policy.max_rows)
                .scalar_subquery()
            )
            result = conn.execute(delete(table).where(table.c.id.in_(ids)))
            deleted[name] = result.rowcount or 0
    return deleted
