"""Fetch day-ahead prices and EUR/NOK rates, convert, and fill the cache; never raises on I/O.

The reader's base install has no HTTP client library, so this uses urllib (run in a thread by
the async caller), with a timeout and retries with backoff.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from hanport.reader.storage.schema import readings

from .entsoe import EntsoeError, NoPrices, nok_per_kwh, parse_prices, zone_eic
from .norgesbank import RateError, parse_rates, rate_on
from .store import SpotPrice, latest_end, save_spot_prices, spot_prices

__all__ = [
    "PriceFetcher",
    "PriceHealth",
    "PriceSource",
    "latest_reading_day",
    "next_attempt_in",
    "price_status",
    "run_prices",
]

OSLO = ZoneInfo("Europe/Oslo")
ENTSOE_URL = "https://web-api.tp.entsoe.eu/api"
NORGES_BANK_URL = "https://data.norges-bank.no/api/data/EXR/B.EUR.NOK.SP"


@dataclass(frozen=True, slots=True)
class PriceSource:
    """Where prices come from: the zone, the token, and the two services' addresses."""

    zone: str
    token: str
    entsoe_url: str = ENTSOE_URL
    norges_bank_url: str = NORGES_BANK_URL
    timeout: float = 20.0
    attempts: int = 3
    backoff: float = 2.0


@dataclass(slots=True)
class PriceHealth:
    """What /api/health says about prices: the last success, the last problem."""

    known_until: datetime | None = None
    last_success: datetime | None = None
    problem: str | None = field(default=None)


def _get(source: PriceSource, url: str, sleep: Callable[[float], None]) -> bytes:
    delay = source.backoff
    for attempt in range(1, source.attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=source.timeout) as reply:
                body: bytes = reply.read()
                return body
        except urllib.error.HTTPError as error:
            if error.code < 500 or attempt == source.attempts:
                detail = error.read()[:500]
                raise OSError(
                    f"HTTP {error.code} from {url.split('?', maxsplit=1)[0]}: {detail!r}"
                ) from None
        except (OSError, TimeoutError):
            if attempt == source.attempts:
                raise
        sleep(delay)
        delay *= 2
    raise OSError("no attempts")


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), OSLO)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), OSLO)
    return start.astimezone(UTC), end.astimezone(UTC)


class PriceFetcher:
    """Fills the price cache of one zone from ENTSO-E and Norges Bank."""

    def __init__(
        self,
        engine: Engine,
        source: PriceSource,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        meter_day: Callable[[], date | None] | None = None,
    ) -> None:
        """``meter_day``: the local day the meters' readings have reached (None: no reading);
        prices are fetched for it and the next day too, as for the server's own day."""
        zone_eic(source.zone)  # an unknown zone is refused here, not at the first fetch
        self.engine, self.source, self.clock, self.sleep = engine, source, clock, sleep
        self.meter_day = meter_day
        self.health = PriceHealth()

    def _rates(self, first: date, last: date) -> dict[date, float]:
        query = urllib.parse.urlencode(
            {
                "format": "sdmx-json",
                "startPeriod": (
                    first - timedelta(days=7)
                ).isoformat(),  # a week back spans holidays
                "endPeriod": last.isoformat(),
            }
        )
        return parse_rates(_get(self.source, f"{self.source.norges_bank_url}?{query}", self.sleep))

    def fetch_days(self, first: date, last: date) -> list[SpotPrice]:
        """The prices of local days ``first``..``last`` in NOK and EUR; raises on failure."""
        start, _ = _day_bounds(first)
        _, end = _day_bounds(last)
        eic = zone_eic(self.source.zone)
        query = urllib.parse.urlencode(
            {
                "securityToken": self.source.token,
                "documentType": "A44",
                "in_Domain": eic,
                "out_Domain": eic,
                "periodStart": start.strftime("%Y%m%d%H%M"),
                "periodEnd": end.strftime("%Y%m%d%H%M"),
            }
        )
        points = parse_prices(_get(self.source, f"{self.source.entsoe_url}?{query}", self.sleep))
        rates = self._rates(first, last)
        return [
            SpotPrice(
                point.start,
                point.end,
                point.eur_per_mwh,
                nok_per_kwh(point.eur_per_mwh, rate_on(rates, point.start.astimezone(OSLO).date())),
            )
            for point in points
        ]

    def meter_today(self) -> date | None:
        """The meters' local day (None without readings or on a database error)."""
        try:
            return self.meter_day() if self.meter_day is not None else None
        except Exception:  # a database hiccup: the server's days are still fetched
            return None

    def wanted_days(self, days_back: int = 7) -> list[date]:
        """The local days the cache should hold: ``days_back`` days before the server's today
        up to tomorrow, and the same around the meters' day when their clock is elsewhere."""
        today = self.clock().astimezone(OSLO).date()
        wanted = {today + timedelta(days=n) for n in range(-days_back, 2)}
        meter = self.meter_today()
        if meter is not None:
            wanted |= {meter + timedelta(days=n) for n in range(-days_back, 2)}
        return sorted(wanted)

    def missing_days(self, days_back: int = 7) -> list[date]:
        """The wanted days whose every minute is not priced in the cache."""
        missing = []
        with self.engine.connect() as conn:
            for day in self.wanted_days(days_back):
                start, end = _day_bounds(day)
                covered = sum(
                    (min(p.end, end) - max(p.start, start)).total_seconds()
                    for p in spot_prices(conn, self.source.zone, start, end)
                )
                if covered < (end - start).total_seconds():
                    missing.append(day)
        return missing

    def refresh(self, days_back: int = 7) -> bool:
        """Fetch the wanted days the cache lacks (a run of days per request); True when
        something new was stored. Days missed during an outage are filled when it ends.

        A failure keeps the cached prices and is reported in ``health``, never raised.
        """
        now = self.clock()
        runs: list[list[date]] = []
        for day in self.missing_days(days_back):
            if runs and runs[-1][-1] + timedelta(days=1) == day:
                runs[-1].append(day)
            else:
                runs.append([day])
        stored = 0
        try:
            for run in runs:
                try:
                    prices = self.fetch_days(run[0], run[-1])
                except NoPrices:  # not published yet (tomorrow), or none for those days
                    continue
                with self.engine.begin() as conn:
                    stored += save_spot_prices(conn, self.source.zone, prices)
        except (OSError, EntsoeError, RateError) as error:
            self.health.problem = str(error)
            return self._known(stored > 0)
        if runs:
            self.health.last_success, self.health.problem = now, None
        return self._known(stored > 0)

    def _known(self, new: bool) -> bool:
        with self.engine.connect() as conn:
            self.health.known_until = latest_end(conn, self.source.zone)
        return new


def latest_reading_day(engine: Engine) -> date | None:
    """The local day of the latest reading of any meter (the meters' clock), or None."""
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(readings.c.at))).scalar()
    return None if latest is None else datetime.fromtimestamp(latest, OSLO).date()


def next_attempt_in(fetcher: PriceFetcher, fetched_tomorrow: bool) -> float:
    """Seconds to the next refresh: soon after a failure or while tomorrow is not out yet
    (ENTSO-E publishes about 12:45–13:00 CET), otherwise at the next publication time."""
    if fetcher.health.problem:
        return 300.0
    now = fetcher.clock()
    publication = now.replace(hour=11, minute=45, second=0, microsecond=0)  # UTC, before 12:45 CET
    if not fetched_tomorrow:
        return 600.0 if now >= publication else (publication - now).total_seconds()
    if publication <= now:
        publication += timedelta(days=1)
    return (publication - now).total_seconds()


async def run_prices(
    fetcher: PriceFetcher, on_new: Callable[[], None] | None = None, *, poll: float = 60.0
) -> None:
    """Keep the cache filled for as long as the reader runs; fills what is missing at start.
    ``on_new`` is called (in the event loop) each time new prices were stored. Between
    refreshes it looks every ``poll`` seconds at the meters' day and refreshes at once when it
    changed (the first readings arrive, or the meters' clock passes midnight)."""
    import asyncio

    loop = asyncio.get_running_loop()
    while True:
        try:
            if await asyncio.to_thread(fetcher.refresh) and on_new is not None:
                on_new()
        except Exception as error:  # a database hiccup must not end the reader
            fetcher.health.problem = f"{type(error).__name__}: {error}"
        day = await asyncio.to_thread(fetcher.meter_today)
        deadline = loop.time() + await asyncio.to_thread(_pause, fetcher)
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, poll))
            if await asyncio.to_thread(fetcher.meter_today) != day:
                break


def _pause(fetcher: PriceFetcher) -> float:
    """Seconds until the next refresh; at most ten minutes while the meters' day is not the
    server's (a meter on its own clock, e.g. the demo's fast one, reaches new days sooner)."""
    today = fetcher.clock().astimezone(OSLO).date()
    tomorrow_end = _day_bounds(today + timedelta(days=1))[1]
    known = fetcher.health.known_until
    pause = next_attempt_in(fetcher, known is not None and known >= tomorrow_end)
    meter = fetcher.meter_today()
    return min(pause, 600.0) if meter is not None and meter != today else pause


def price_status(fetcher: PriceFetcher) -> dict[str, object]:
    """The fetcher's state for /api/health."""
    health = fetcher.health
    tomorrow = fetcher.clock().astimezone(OSLO).date() + timedelta(days=1)
    known = health.known_until
    return {
        "enabled": True,
        "zone": fetcher.source.zone,
        "known_until": known.isoformat() if known else None,
        # tomorrow's day-ahead prices are out (and cached): ENTSO-E publishes them about 13:00
        "tomorrow_known": known is not None and known >= _day_bounds(tomorrow)[1],
        "last_success": health.last_success.isoformat() if health.last_success else None,
        "problem": health.problem,
    }
