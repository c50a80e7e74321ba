"""Check the reader's booked hours against the official hourly values a household downloads.

Layouts read (the header decides; anything else is a clear error):

- Elhub's export of measured values ("Last ned måleverdier" in Elhub's web plugin):
  ``Fra,Til,KWH 60 Forbruk[,Kvalitet]`` (or ``KWH 15 Forbruk`` for quarter hours, summed per
  hour), times as ``dd.mm.yyyy HH:MM`` or ISO with offset. Header as seen in public tools that
  read these files (e.g. strømkalkulatorer on GitHub parsing "Fra,Til,KWH 60 Forbruk").
- Grid companies' exports from their customer pages: ``Fra;Til;kWh`` (also ``Forbruk (kWh)``,
  ``Mengde``, ``Volum``), ``;``-separated with decimal commas, UTF-8 with BOM or Windows-1252.

Times without an offset are Europe/Oslo; on the night clocks go back, the second ``02:00`` is
the later hour. Parsing and comparison are pure; ``store_official`` and ``month_report`` keep
the imported values in ``official_hours`` and compare them with ``hours`` for the API.

``replace_estimated`` (``hanport reconcile FILE --replace-estimated``) books the official value
for each hour the reader estimated, and recomputes the days. Such an hour gets
``hours.source = 'official'`` (reader migration 0005); a later booking by the reader writes
``'reader'`` again (the column's default, in every booking's upsert).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, select, update

from hanport.reader.energy import local_day
from hanport.reader.storage.booking import refresh_days
from hanport.reader.storage.schema import hours, official_hours
from hanport.reader.storage.upsert import upsert

__all__ = [
    "HourCheck",
    "OfficialHour",
    "ReconcileError",
    "compare",
    "month_report",
    "parse_official",
    "replace_estimated",
    "replaced_starts",
    "store_official",
    "three_peaks",
]

OSLO = ZoneInfo("Europe/Oslo")
_VALUE_HEADERS = ("kwh 60 forbruk", "kwh 15 forbruk", "kwh", "forbruk (kwh)", "forbruk kwh",
                  "forbruk", "mengde", "volum", "mengde (kwh)")  # fmt: skip
_TIME_FORMATS = ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H.%M", "%Y-%m-%d %H:%M")


class ReconcileError(ValueError):
    """A file that is not a known export of hourly values (message in bokmål and English)."""


@dataclass(frozen=True, slots=True)
class OfficialHour:
    start: int  # POSIX seconds of the hour's start
    kwh: float
    measured: bool  # False when the grid company estimated it ("Beregnet"/"Estimert")


@dataclass(frozen=True, slots=True)
class HourCheck:
    start: int
    official_kwh: float
    reader_kwh: float | None  # None: the reader has no booked hour
    reader_estimated: bool
    difference_kwh: float | None  # reader − official
    flagged: bool  # missing at the reader, or the difference above the tolerance


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")  # every byte decodes: the header check below decides


def _parse_time(text: str, seen: set[dt.datetime]) -> int:
    text = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        for pattern in _TIME_FORMATS:
            try:
                parsed = dt.datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        else:
            raise ValueError(text) from None
    if parsed.tzinfo is None:
        # the hour repeated when clocks go back: its second appearance is the later one
        fold = 1 if parsed in seen else 0
        seen.add(parsed)
        parsed = parsed.replace(tzinfo=OSLO, fold=fold)
    return int(parsed.timestamp())


def _number(text: str) -> float:
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    return float(cleaned)


def parse_official(data: bytes) -> tuple[str, list[OfficialHour]]:
    """(the layout's name, the hours in order) from an export's bytes."""
    text = _decode(data)
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    delimiter = max((";", ",", "\t"), key=first.count)
    rows = list(csv.reader(io.StringIO(text.lstrip()), delimiter=delimiter))
    header = [cell.strip().strip('"').lower() for cell in rows[0]] if rows else []
    if "fra" not in header:
        raise ReconcileError(
            "ukjent filformat / unknown file layout: expected Elhub's export (Fra, Til, KWH 60 "
            "Forbruk) or a grid company's (Fra;Til;kWh); the first line is "
            f"{first[:80]!r}"
        )
    value_col = next((header.index(h) for h in _VALUE_HEADERS if h in header), None)
    if value_col is None:
        raise ReconcileError(f"ingen kWh-kolonne / no kWh column in the header {', '.join(header)}")
    time_col = header.index("fra")
    quality_col = header.index("kvalitet") if "kvalitet" in header else None
    layout = (
        "elhub"
        if header[value_col].startswith("kwh 60") or header[value_col].startswith("kwh 15")
        else "grid-company"
    )
    by_hour: dict[int, list[float]] = defaultdict(list)
    measured: dict[int, bool] = {}
    seen: set[dt.datetime] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            start = _parse_time(row[time_col], seen)
            kwh = _number(row[value_col])
        except (ValueError, IndexError):
            raise ReconcileError(
                f"linje {line_no}: kan ikke lese / line {line_no}: cannot read {row!r}"
            ) from None
        hour = start - start % 3600
        by_hour[hour].append(kwh)
        quality = row[quality_col].strip().lower() if quality_col is not None else "målt"
        measured[hour] = measured.get(hour, True) and quality not in ("beregnet", "estimert")
    if not by_hour:
        raise ReconcileError("ingen timeverdier i filen / no hourly values in the file")
    hours = [OfficialHour(h, round(sum(v), 6), measured[h]) for h, v in sorted(by_hour.items())]
    return layout, hours


def compare(
    official: Sequence[OfficialHour],
    reader: dict[int, tuple[float, bool]],
    tolerance_kwh: float,
) -> list[HourCheck]:
    """Each official hour against the reader's booked hour (start → (kWh, estimated))."""
    checks = []
    for hour in official:
        booked = reader.get(hour.start)
        if booked is None:
            checks.append(HourCheck(hour.start, hour.kwh, None, False, None, True))
            continue
        difference = round(booked[0] - hour.kwh, 6)
        checks.append(
            HourCheck(
                hour.start,
                hour.kwh,
                booked[0],
                booked[1],
                difference,
                abs(difference) > tolerance_kwh,
            )
        )
    return checks


def three_peaks(hours: Iterable[tuple[int, float]]) -> dict[str, list[tuple[int, float]]]:
    """Per local month (YYYY-MM): the three highest daily maximum hours, highest first."""
    best: dict[str, tuple[int, float]] = {}
    for start, kwh in hours:
        day = dt.datetime.fromtimestamp(start, OSLO).date().isoformat()
        if day not in best or kwh > best[day][1]:
            best[day] = (start, kwh)
    months: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for day, peak in best.items():
        months[day[:7]].append(peak)
    return {m: sorted(p, key=lambda x: -x[1])[:3] for m, p in sorted(months.items())}


#: ``hours.source`` of an hour holding the official value; the reader's own are "reader"
OFFICIAL = "official"
#: booked and official values closer than this are the same (both are stored as floats)
_SAME_KWH = 1e-6


def replaced_starts(
    conn: Connection, start: int, end: int, meter_id: str | None = None
) -> dict[tuple[str, int], float]:
    """(meter, hour start) → booked import kWh of the hours in [start, end) that hold the
    official value (``hours.source``)."""
    hc = hours.c
    query = select(hc.meter_id, hc.start, hc.active_energy_import_kwh).where(
        hc.start >= start, hc.start < end, hc.source == OFFICIAL
    )
    if meter_id is not None:
        query = query.where(hc.meter_id == meter_id)
    return {(str(r[0]), int(r[1])): float(r[2]) for r in conn.execute(query)}


def store_official(
    conn: Connection, meter_id: str, layout: str, official: Sequence[OfficialHour]
) -> None:
    """Keep the imported hours (a newer import of the same hour replaces the older)."""
    if not official:
        return
    rows = [
        {"meter_id": meter_id, "start": h.start, "kwh": h.kwh, "measured": h.measured,
         "layout": layout}
        for h in official
    ]  # fmt: skip
    conn.execute(upsert(conn, official_hours, ["meter_id", "start"]), rows)


def replace_estimated(
    conn: Connection, meter_id: str, layout: str, official: Sequence[OfficialHour]
) -> list[int]:
    """Book the official import of every hour the reader estimated (``hours.estimated``) and
    set its ``source`` to "official"; recompute the touched days. The hour stays estimated only
    when the official value is itself an estimate. Idempotent: an hour already replaced by the
    same value is left alone. Returns the starts replaced now. Call after ``store_official``
    (``layout`` is kept for the callers; the file's layout is in ``official_hours``)."""
    if not official:
        return []
    hc = hours.c
    booked = {
        int(r[0]): (float(r[1]), bool(r[2]), str(r[3]))
        for r in conn.execute(
            select(hc.start, hc.active_energy_import_kwh, hc.estimated, hc.source).where(
                hc.meter_id == meter_id,
                hc.start >= official[0].start,
                hc.start <= official[-1].start,
            )
        )
    }
    changed = []
    for hour in official:
        kwh, estimated, source = booked.get(hour.start, (None, False, "reader"))
        if kwh is None:
            continue  # not booked
        if source == OFFICIAL and abs(kwh - hour.kwh) < _SAME_KWH:
            continue  # replaced before
        if not estimated and source != OFFICIAL:
            continue  # booked from the meter's own registers
        conn.execute(
            update(hours)
            .where(and_(hc.meter_id == meter_id, hc.start == hour.start))
            .values(active_energy_import_kwh=hour.kwh, estimated=not hour.measured, source=OFFICIAL)
        )
        changed.append(hour.start)
    refresh_days(conn, meter_id, {local_day(s) for s in changed})
    return changed


def _local_iso(start: int) -> str:
    return dt.datetime.fromtimestamp(start, OSLO).replace(tzinfo=None).isoformat()


def month_report(
    conn: Connection, meter_id: str, month: dt.date, tolerance_kwh: float
) -> dict[str, Any]:
    """The /api/reconcile object of one meter and local month (``month`` is its first day)."""
    start = int(dt.datetime(month.year, month.month, 1, tzinfo=OSLO).timestamp())
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    end = int(dt.datetime(following.year, following.month, 1, tzinfo=OSLO).timestamp())
    oc, hc = official_hours.c, hours.c
    official = [
        OfficialHour(int(r[0]), float(r[1]), bool(r[2]))
        for r in conn.execute(
            select(oc.start, oc.kwh, oc.measured)
            .where(oc.meter_id == meter_id, oc.start >= start, oc.start < end)
            .order_by(oc.start)
        )
    ]
    marked = replaced_starts(conn, start, end, meter_id)
    booked = {
        int(r[0]): (float(r[1]), bool(r[2]))
        for r in conn.execute(
            select(hc.start, hc.active_energy_import_kwh, hc.estimated).where(
                hc.meter_id == meter_id, hc.start >= start, hc.start < end
            )
        )
    }
    checks = compare(official, booked, tolerance_kwh)
    key = month.strftime("%Y-%m")
    peaks_official = three_peaks((h.start, h.kwh) for h in official).get(key, [])
    peaks_reader = three_peaks((s, v[0]) for s, v in booked.items()).get(key, [])
    return {
        "meter_id": meter_id,
        "month": key,
        "tolerance_kwh": tolerance_kwh,
        "hours": [
            {
                "start": _local_iso(c.start),
                "official_kwh": c.official_kwh,
                "official_measured": h.measured,
                "reader_kwh": c.reader_kwh,
                "reader_estimated": c.reader_estimated,
                "difference_kwh": c.difference_kwh,
                "flagged": c.flagged,
                # the reader's estimate was replaced by the official value (hours.source)
                "replaced": (meter_id, c.start) in marked,
            }
            for c, h in zip(checks, official, strict=True)
        ],
        "flagged": sum(c.flagged for c in checks),
        "peaks": {
            "official": [{"start": _local_iso(s), "kwh": k} for s, k in peaks_official],
            "reader": [{"start": _local_iso(s), "kwh": k} for s, k in peaks_reader],
        },
    }
