"""Stand-in market servers: ENTSO-E day-ahead prices (A44) and Norges Bank's EUR/NOK rate.

Prices are synthetic but shaped like real ones (a morning and an evening peak, cheaper
weekends), deterministic by zone and date, hourly before 2025-10-01 and quarter-hourly from
then, in the same XML and SDMX-JSON formats the real services answer with. Tests and the demo
point the reader at them, so nothing reaches the internet.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["QUARTER_HOURS_FROM", "eur_per_mwh", "market_app"]

#: the day-ahead market went from hourly to quarter-hourly prices on this delivery day
QUARTER_HOURS_FROM = datetime(2025, 9, 30, 22, tzinfo=UTC)
_NS = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"
_ACK_NS = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"


def _seed(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def eur_per_mwh(eic: str, moment: datetime) -> float:
    """The synthetic price at ``moment`` (UTC) in the zone ``eic``: same inputs, same price."""
    local_hour = (moment.hour + 1 + moment.minute / 60) % 24  # roughly CET
    base = 40 + 40 * _seed(f"{eic}{moment.date()}")
    peaks = 25 * math.exp(-((local_hour - 8) ** 2) / 4) + 35 * math.exp(
        -((local_hour - 18) ** 2) / 5
    )
    weekend = 0.8 if moment.weekday() >= 5 else 1.0
    return round((base + peaks) * weekend, 2)


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _period(eic: str, start: datetime, end: datetime) -> str:
    step = timedelta(minutes=15) if start >= QUARTER_HOURS_FROM else timedelta(hours=1)
    points, last, position, moment = [], None, 1, start
    while moment < end:
        price = eur_per_mwh(eic, moment)
        if price != last:  # curve A03: a repeated price is left out
            points.append(
                f"<Point><position>{position}</position>"
                f"<price.amount>{price:.2f}</price.amount></Point>"
            )
        last, position, moment = price, position + 1, moment + step
    resolution = "PT15M" if step == timedelta(minutes=15) else "PT60M"
    return (
        f"<Period><timeInterval><start>{_iso(start)}</start><end>{_iso(end)}</end>"
        f"</timeInterval><resolution>{resolution}</resolution>{''.join(points)}</Period>"
    )


def _acknowledgement(text: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Acknowledgement_MarketDocument xmlns="{_ACK_NS}">'
        f"<Reason><code>999</code><text>{text}</text></Reason></Acknowledgement_MarketDocument>"
    )
    return Response(body, media_type="application/xml")


def _published_until(now: datetime) -> datetime:
    """Tomorrow's prices are out from 12:00 UTC (about 13:00 CET); until then, today's."""
    midnight = datetime.combine(now.date(), datetime.min.time(), UTC) - timedelta(hours=1)
    return midnight + timedelta(days=2 if now.hour >= 12 else 1)


async def _entsoe(request: Request) -> Response:
    query = request.query_params
    if not query.get("securityToken"):
        return Response("Unauthorized", status_code=401)
    if query.get("documentType") != "A44" or query.get("in_Domain") != query.get("out_Domain"):
        return _acknowledgement("Only day-ahead prices (A44) of one zone are served")
    try:
        start, end = _utc(query["periodStart"]), _utc(query["periodEnd"])
    except (KeyError, ValueError):
        return _acknowledgement("periodStart and periodEnd must be yyyyMMddHHmm")
    end = min(end, _published_until(request.app.state.clock()))
    eic = str(query.get("in_Domain"))
    series: list[str] = []
    day = start.replace(hour=23, minute=0) - timedelta(days=1)
    while day < end:
        if day + timedelta(days=1) > start:
            series.append(
                f"<TimeSeries><mRID>{len(series) + 1}</mRID><curveType>A03</curveType>"
                f"{_period(eic, max(day, start), min(day + timedelta(days=1), end))}"
                "</TimeSeries>"
            )
        day += timedelta(days=1)
    if not series:
        return _acknowledgement("No matching data found")
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Publication_MarketDocument xmlns="{_NS}">'
        f"{''.join(series)}</Publication_MarketDocument>"
    )
    return Response(body, media_type="application/xml")


def eur_nok(day: date) -> float:
    """The synthetic EUR/NOK rate of a business day."""
    return round(11.2 + 0.6 * _seed(day.isoformat()), 4)


async def _norges_bank(request: Request) -> Response:
    try:
        first = date.fromisoformat(request.query_params["startPeriod"])
        last = date.fromisoformat(request.query_params["endPeriod"])
    except (KeyError, ValueError):
        return Response("startPeriod and endPeriod must be YYYY-MM-DD", status_code=400)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    business = [day for day in days if day.weekday() < 5]
    body = {
        "data": {
            "dataSets": [
                {
                    "series": {
                        "0:0:0:0": {
                            "observations": {
                                str(index): [f"{eur_nok(day):.4f}"]
                                for index, day in enumerate(business)
                            }
                        }
                    }
                }
            ],
            "structure": {
                "dimensions": {
                    "observation": [
                        {
                            "id": "TIME_PERIOD",
                            "values": [{"id": day.isoformat()} for day in business],
                        }
                    ]
                }
            },
        }
    }
    return Response(json.dumps(body), media_type="application/vnd.sdmx.data+json")


def market_app(clock: Callable[[], datetime] | None = None) -> Starlette:
    """ENTSO-E at ``/api`` and Norges Bank at ``/api/data/EXR/B.EUR.NOK.SP``."""
    app = Starlette(
        routes=[
            Route("/api", _entsoe),
            Route("/api/data/EXR/B.EUR.NOK.SP", _norges_bank),
        ]
    )
    app.state.clock = clock or (lambda: datetime.now(UTC))
    return app
