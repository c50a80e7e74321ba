"""The spot-price cache in the reader database: what cost and the API read prices from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select

from hanport.reader.storage.schema import spot_prices as spot_prices_table

__all__ = ["SpotPrice", "latest_end", "save_spot_prices", "spot_prices"]


@dataclass(frozen=True, slots=True)
class SpotPrice:
    """One price interval, [start, end) in UTC; ``nok_per_kwh`` excludes VAT."""

    start: datetime
    end: datetime
    eur_per_mwh: float
    nok_per_kwh: float


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"time without a time zone: {moment.isoformat()}")
    return int(moment.timestamp())


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def spot_prices(conn: Connection, zone: str, start: datetime, end: datetime) -> list[SpotPrice]:
    """The cached prices of ``zone`` whose intervals overlap [start, end), ordered by start."""
    table = spot_prices_table
    rows = conn.execute(
        select(table.c.start, table.c.end, table.c.eur_per_mwh, table.c.nok_per_kwh)
        .where(table.c.zone == zone)
        .where(table.c.start < _seconds(end))
        .where(table.c.end > _seconds(start))
        .order_by(table.c.start)
    )
    return [
        SpotPrice(_moment(row.start), _moment(row.end), row.eur_per_mwh, row.nok_per_kwh)
        for row in rows
    ]


def save_spot_prices(conn: Connection, zone: str, prices: Iterable[SpotPrice]) -> int:
    """Store ``prices`` for ``zone``, replacing cached intervals that start at the same times."""
    rows = [
        {
            "zone": zone,
            "start": _seconds(price.start),
            "end": _seconds(price.end),
            "eur_per_mwh": price.eur_per_mwh,
            "nok_per_kwh": price.nok_per_kwh,
        }
        for price in prices
    ]
    if not rows:
        return 0
    table = spot_prices_table
    starts = [row["start"] for row in rows]
    conn.execute(delete(table).where(table.c.zone == zone).where(table.c.start.in_(starts)))
    conn.execute(insert(table), rows)
    return len(rows)


def latest_end(conn: Connection, zone: str) -> datetime | None:
    """The end of the last cached interval of ``zone`` (how far ahead prices are known)."""
    table = spot_prices_table
    last = conn.execute(
        select(table.c.end).where(table.c.zone == zone).order_by(table.c.end.desc()).limit(1)
    ).scalar()
    return None if last is None else _moment(last)
