"""ENTSO-E day-ahead prices (document A44): bidding zones and the XML reply, without I/O."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["ZONES", "EntsoeError", "NoPrices", "PricePoint", "parse_prices", "zone_eic"]

#: bidding zone -> its EIC code on the Transparency Platform
ZONES: dict[str, str] = {
    "NO1": "10YNO-1--------2",
    "NO2": "10YNO-2--------T",
    "NO3": "10YNO-3--------J",
    "NO4": "10YNO-4--------9",
    "NO5": "10Y1001A1001A48H",
    "SE1": "10Y1001A1001A44P",
    "SE2": "10Y1001A1001A45N",
    "SE3": "10Y1001A1001A46L",
    "SE4": "10Y1001A1001A47J",
    "DK1": "10YDK-1--------W",
    "DK2": "10YDK-2--------M",
    "FI": "10YFI-1--------U",
}

_RESOLUTIONS = {
    "PT15M": timedelta(minutes=15),
    "PT30M": timedelta(minutes=30),
    "PT60M": timedelta(hours=1),
    "PT1H": timedelta(hours=1),
}


class EntsoeError(ValueError):
    """The reply is not a price document this reader understands."""


class NoPrices(EntsoeError):
    """ENTSO-E answered with an acknowledgement: no prices for the period (yet)."""


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One interval's day-ahead price in EUR/MWh, [start, end) in UTC."""

    start: datetime
    end: datetime
    eur_per_mwh: float


def zone_eic(zone: str) -> str:
    """The EIC code of ``zone``; a clear error for a zone ENTSO-E does not price."""
    try:
        return ZONES[zone.upper()]
    except KeyError:
        known = ", ".join(ZONES)
        raise ValueError(f"unknown bidding zone {zone!r}; known zones: {known}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in element if _local(child.tag) == name), None)


def _text(element: ET.Element, name: str) -> str:
    child = _child(element, name)
    if child is None or child.text is None:
        raise EntsoeError(f"<{_local(element.tag)}> has no <{name}>")
    return child.text.strip()


def _utc(text: str) -> datetime:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z", text):
        raise EntsoeError(f"not a UTC time: {text!r}")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _period_points(period: ET.Element) -> list[PricePoint]:
    interval = _child(period, "timeInterval")
    if interval is None:
        raise EntsoeError("<Period> has no <timeInterval>")
    start, end = _utc(_text(interval, "start")), _utc(_text(interval, "end"))
    resolution = _text(period, "resolution")
    if resolution not in _RESOLUTIONS:
        raise EntsoeError(f"unknown resolution {resolution!r}")
    step = _RESOLUTIONS[resolution]
    count = int((end - start) / step)
    given: dict[int, float] = {}
    for point in (child for child in period if _local(child.tag) == "Point"):
        try:
            given[int(_text(point, "position"))] = float(_text(point, "price.amount"))
        except ValueError as error:
            raise EntsoeError(f"bad <Point>: {error}") from None
    if 1 not in given:
        raise EntsoeError("<Period> has no price at position 1")
    points, price = [], given[1]
    for position in range(1, count + 1):
        price = given.get(position, price)  # curve A03: a missing position repeats the last price
        begin = start + step * (position - 1)
        points.append(PricePoint(begin, begin + step, price))
    return points


def parse_prices(xml: bytes | str) -> list[PricePoint]:
    """The price points of a Publication_MarketDocument, ordered by start, gaps filled.

    Raises ``NoPrices`` for an Acknowledgement_MarketDocument and ``EntsoeError`` for anything
    that is not a readable price document.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise EntsoeError(f"the reply is not XML: {error}") from None
    kind = _local(root.tag)
    if kind == "Acknowledgement_MarketDocument":
        reason = _child(root, "Reason")
        said = None if reason is None else _child(reason, "text")
        text = "" if said is None else said.text or ""
        raise NoPrices(text.strip() or "no prices for the period")
    if kind != "Publication_MarketDocument":
        raise EntsoeError(f"unexpected document <{kind}>")
    by_start: dict[datetime, PricePoint] = {}
    for series in (child for child in root if _local(child.tag) == "TimeSeries"):
        for period in (child for child in series if _local(child.tag) == "Period"):
            for point in _period_points(period):
                by_start[point.start] = point
    if not by_start:
        raise NoPrices("the document holds no prices")
    return [by_start[start] for start in sorted(by_start)]


def nok_per_kwh(eur_per_mwh: float, eur_nok: float) -> float:
    """EUR/MWh at the day's EUR/NOK rate, in NOK/kWh (1 MWh = 1000 kWh)."""
    return eur_per_mwh * eur_nok / 1000.0
