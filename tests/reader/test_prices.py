"""Day-ahead prices: ENTSO-E A44 parsing, the EUR/NOK rate, the cache in the reader database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from hanport.emulator.market import eur_nok, market_app
from hanport.reader.prices.entsoe import EntsoeError, NoPrices, nok_per_kwh, parse_prices, zone_eic
from hanport.reader.prices.fetch import (
    PriceFetcher,
    PriceSource,
    _pause,
    latest_reading_day,
    next_attempt_in,
    price_status,
    run_prices,
)
from hanport.reader.prices.norgesbank import RateError, parse_rates, rate_on
from hanport.reader.prices.store import SpotPrice, latest_end, save_spot_prices, spot_prices
from hanport.reader.settings import SettingsError, load_settings
from hanport.reader.storage.database import migrate, open_db
from hanport.reader.web import ReaderContext, create_app
from services.serving import serve_in_thread

OSLO = ZoneInfo("Europe/Oslo")
_NS = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"


def _period(start: str, end: str, resolution: str, points: dict[int, float]) -> str:
    body = "".join(
        f"<Point><position>{pos}</position><price.amount>{price}</price.amount></Point>"
        for pos, price in points.items()
    )
    return (
        f"<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>"
        f"<resolution>{resolution}</resolution>{body}</Period>"
    )


def _document(*periods: str) -> str:
    series = "".join(
        f"<TimeSeries><mRID>{n}</mRID><curveType>A03</curveType>{p}</TimeSeries>"
        for n, p in enumerate(periods, 1)
    )
    root = "Publication_MarketDocument"
    return f'<?xml version="1.0"?><{root} xmlns="{_NS}">{series}</{root}>'


def test_a03_gaps_repeat_the_last_price() -> None:
    xml = _document(_period("2026-01-14T23:00Z", "2026-01-15T23:00Z", "PT60M", {1: 50.0, 4: 60.5}))
    points = parse_prices(xml)
    assert len(points) == 24
    assert [p.eur_per_mwh for p in points[:5]] == [50.0, 50.0, 50.0, 60.5, 60.5]
    assert points[-1].end == datetime(2026, 1, 15, 23, tzinfo=UTC)


def test_quarter_hours_and_several_series_in_order() -> None:
    xml = _document(
        _period("2026-01-15T23:00Z", "2026-01-16T23:00Z", "PT15M", {1: 10.0}),
        _period("2026-01-14T23:00Z", "2026-01-15T23:00Z", "PT15M", {1: 20.0, 96: 30.0}),
    )
    points = parse_prices(xml)
    assert len(points) == 192
    assert points[0].start == datetime(2026, 1, 14, 23, tzinfo=UTC)
    assert points[1].start - points[0].start == timedelta(minutes=15)
    assert points[95].eur_per_mwh == 30.0
    assert points[96].eur_per_mwh == 10.0


@pytest.mark.parametrize(
    ("day_start", "day_end", "hours"),
    [
        ("2026-03-28T23:00Z", "2026-03-29T22:00Z", 23),
        ("2026-10-24T22:00Z", "2026-10-25T23:00Z", 25),
    ],
)
def test_dst_days(day_start: str, day_end: str, hours: int) -> None:
    points = parse_prices(_document(_period(day_start, day_end, "PT60M", {1: 1.0})))
    assert len(points) == hours


def test_acknowledgement_says_no_prices() -> None:
    ack = (
        '<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:'
        'acknowledgementdocument:7:0"><Reason><code>999</code>'
        "<text>No matching data found</text></Reason></Acknowledgement_MarketDocument>"
    )
    with pytest.raises(NoPrices, match="No matching data"):
        parse_prices(ack)


@pytest.mark.parametrize(
    "bad",
    [
        "<not xml",
        "<Other/>",
        _document(_period("2026-01-14T23:00Z", "2026-01-15T23:00Z", "PT7M", {1: 1.0})),
    ],
)
def test_malformed_replies_are_clear_errors(bad: str) -> None:
    with pytest.raises(EntsoeError):
        parse_prices(bad)


def test_zones_map_to_eic_and_unknown_zone_is_named() -> None:
    assert zone_eic("no1") == "10YNO-1--------2"
    with pytest.raises(ValueError, match="unknown bidding zone 'XX'"):
        zone_eic("XX")


_RATES = """{"data": {"dataSets": [{"series": {"0:0:0:0": {"observations":
 {"0": ["11.50"], "1": ["11.60"]}}}}], "structure": {"dimensions": {"observation": [
 {"id": "TIME_PERIOD", "values": [{"id": "2026-01-15"}, {"id": "2026-01-16"}]}]}}}}"""


def test_weekend_uses_fridays_rate() -> None:
    rates = parse_rates(_RATES)
    assert rate_on(rates, date(2026, 1, 18)) == 11.60  # Sunday -> Friday 16th
    assert rate_on(rates, date(2026, 1, 15)) == 11.50
    with pytest.raises(RateError):
        rate_on(rates, date(2026, 1, 14))
    with pytest.raises(RateError):
        parse_rates("{}")
    assert nok_per_kwh(100.0, 11.5) == pytest.approx(1.15)


def test_cache_returns_overlapping_intervals_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = open_db(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    migrate(engine)
    start = datetime(2026, 1, 15, 0, tzinfo=UTC)
    prices = [
        SpotPrice(start + timedelta(hours=h), start + timedelta(hours=h + 1), 10.0 * h, h / 100)
        for h in range(24)
    ]
    with engine.begin() as conn:
        assert save_spot_prices(conn, "NO1", reversed(prices)) == 24
        save_spot_prices(conn, "NO1", prices[:2])  # saving again replaces, never doubles
    with engine.connect() as conn:
        got = spot_prices(conn, "NO1", start + timedelta(minutes=30), start + timedelta(hours=3))
        assert got == prices[0:3]
        assert spot_prices(conn, "NO2", start, start + timedelta(days=1)) == []
        assert latest_end(conn, "NO1") == start + timedelta(days=1)


# The stand-in ENTSO-E and Norges Bank servers, with a clock the test moves.
class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def market() -> Iterator[tuple[str, _Clock]]:
    clock = _Clock(datetime(2026, 3, 28, 10, tzinfo=UTC))
    yield from ((url, clock) for url in serve_in_thread(market_app(clock), "market"))


def _fetcher(tmp_path: Path, url: str, clock: _Clock, zone: str = "NO1") -> PriceFetcher:
    engine = open_db(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    migrate(engine)
    source = PriceSource(
        zone,
        "token",
        f"{url}/api",
        f"{url}/api/data/EXR/B.EUR.NOK.SP",
        timeout=5,
        attempts=2,
        backoff=0,
    )
    return PriceFetcher(engine, source, clock=clock, sleep=lambda _: None)


def test_fetch_ahead_across_dst_and_network_down(
    tmp_path: Path, market: tuple[str, _Clock]
) -> None:
    url, clock = market
    fetcher = _fetcher(tmp_path, url, clock)
    assert fetcher.refresh(days_back=1)  # before 13:00: up to today only
    today_end = datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert fetcher.health.known_until == today_end
    clock.now = datetime(2026, 3, 28, 12, 30, tzinfo=UTC)  # tomorrow published (23 hours)
    assert fetcher.refresh()
    day_start, day_end = (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    with fetcher.engine.connect() as conn:
        tomorrow = spot_prices(conn, "NO1", day_start, day_end)
    assert len(tomorrow) == 23 * 4  # quarter hours, spring-forward day
    assert all(
        p.nok_per_kwh == pytest.approx(p.eur_per_mwh * 11.2 / 1000, rel=0.06) for p in tomorrow
    )
    assert not fetcher.refresh(days_back=1)  # nothing missing: no request
    # the network goes away: last known prices stay, health says why
    fetcher.source = PriceSource(
        "NO1",
        "token",
        "http://127.0.0.1:9/api",
        "http://127.0.0.1:9/x",
        timeout=1,
        attempts=2,
        backoff=0,
    )
    clock.now = datetime(2026, 3, 29, 12, 30, tzinfo=UTC)
    assert not fetcher.refresh()
    assert fetcher.health.problem
    assert fetcher.health.known_until == day_end


def test_weekend_prices_use_fridays_rate(tmp_path: Path, market: tuple[str, _Clock]) -> None:
    url, clock = market
    fetcher = _fetcher(tmp_path, url, clock)
    prices = fetcher.fetch_days(date(2026, 3, 28), date(2026, 3, 28))  # a Saturday
    friday = eur_nok(date(2026, 3, 27))
    assert prices[0].nok_per_kwh == pytest.approx(prices[0].eur_per_mwh * friday / 1000)


def test_unknown_zone_is_refused(tmp_path: Path, market: tuple[str, _Clock]) -> None:
    url, clock = market
    with pytest.raises(ValueError, match="unknown bidding zone"):
        _fetcher(tmp_path, url, clock, zone="XX")


def test_api_prices_and_health(tmp_path: Path, market: tuple[str, _Clock]) -> None:
    url, clock = market
    clock.now = datetime(2026, 10, 24, 12, 30, tzinfo=UTC)  # tomorrow is the 25-hour day
    fetcher = _fetcher(tmp_path, url, clock)
    assert fetcher.refresh(days_back=0)

    def status() -> dict[str, object]:
        return {"enabled": True, "problem": fetcher.health.problem}

    context = ReaderContext(engine=fetcher.engine, prices_zone="NO1", price_status=status)
    client = TestClient(create_app(context))
    answer = client.get("/api/prices", params={"date": "2026-10-25"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["zone"] == "NO1" and len(body["prices"]) == 25 * 4
    assert body["prices"][0]["start"] == "2026-10-24T22:00:00+00:00"
    assert client.get("/api/prices", params={"date": "2026-10-25", "zone": "XX"}).status_code == 422
    assert client.get("/api/prices", params={"date": "2026-13-40"}).status_code == 422
    assert (
        client.get("/api/prices", params={"date": "2026-10-25", "zone": "SE3"}).json()["prices"]
        == []
    )
    fetcher.health.problem = "HTTP 503 from http://x/api"
    health = client.get("/api/health").json()
    assert health["prices"]["problem"]
    assert any(issue["code"] == "prices_failing" for issue in health["issues"])


def test_settings_refuse_unknown_zone(tmp_path: Path) -> None:
    config = tmp_path / "reader.toml"
    config.write_text('[prices]\nzone = "NO9"\nentsoe_token = "t"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown bidding zone"):
        load_settings({}, config=str(config), environ={})
    config.write_text('[prices]\nzone = "no3"\nentsoe_token = "t"\n', encoding="utf-8")
    assert load_settings({}, config=str(config), environ={}).prices_zone == "NO3"


def test_next_attempt_waits_for_publication(tmp_path: Path, market: tuple[str, _Clock]) -> None:
    url, clock = market
    fetcher = _fetcher(tmp_path, url, clock)
    clock.now = datetime(2026, 3, 28, 10, 45, tzinfo=UTC)
    assert next_attempt_in(fetcher, fetched_tomorrow=False) == 3600  # until 11:45 UTC
    clock.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert next_attempt_in(fetcher, fetched_tomorrow=False) == 600  # retry until out
    assert next_attempt_in(fetcher, fetched_tomorrow=True) == 23.75 * 3600
    fetcher.health.problem = "down"
    assert next_attempt_in(fetcher, fetched_tomorrow=True) == 300
    assert price_status(fetcher)["problem"] == "down"


def _whole_day(fetcher: PriceFetcher, day: date) -> bool:
    start = datetime.combine(day, datetime.min.time(), OSLO).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), OSLO).astimezone(UTC)
    with fetcher.engine.connect() as conn:
        prices = spot_prices(conn, "NO1", start, end)
    return bool(prices) and prices[0].start == start and prices[-1].end == end


def test_prices_follow_the_meters_day_and_fill_an_outage(
    tmp_path: Path, market: tuple[str, _Clock]
) -> None:
    """The meters' clock is a day ahead of the server's (the demo's fast meters): the fetcher
    fetches the meters' day and, when published, the next; days missed while the network was
    down are fetched when it is back. The stand-in market publishes by the meters' clock."""
    url, market_clock = market
    server = _Clock(datetime(2026, 12, 5, 9, tzinfo=UTC))
    meter = {"day": date(2026, 12, 6)}
    fetcher = _fetcher(tmp_path, url, server)
    fetcher.meter_day = lambda: meter["day"]
    market_clock.now = datetime(2026, 12, 6, 13, tzinfo=UTC)  # the 7th is published
    assert fetcher.refresh(days_back=1)
    for day in (4, 5, 6, 7):  # the server's yesterday, today; the meters' day and the next
        assert _whole_day(fetcher, date(2026, 12, day)), day
    assert not _whole_day(fetcher, date(2026, 12, 8))
    assert fetcher.missing_days(days_back=1) == []
    assert not fetcher.refresh(days_back=1)  # nothing missing: no request
    assert _pause(fetcher) == 600  # the meters' day is not the server's: look again soon
    # the network goes away while the meters pass the 8th and 9th
    working = fetcher.source
    fetcher.source = PriceSource(
        "NO1",
        "token",
        "http://127.0.0.1:9/api",
        "http://127.0.0.1:9/x",
        timeout=1,
        attempts=1,
        backoff=0,
    )
    meter["day"], market_clock.now = date(2026, 12, 9), datetime(2026, 12, 9, 8, tzinfo=UTC)
    assert not fetcher.refresh(days_back=2)
    assert fetcher.health.problem
    meter["day"], market_clock.now = date(2026, 12, 10), datetime(2026, 12, 10, 8, tzinfo=UTC)
    fetcher.source = working
    assert fetcher.refresh(days_back=2)
    assert fetcher.health.problem is None
    for day in (8, 9, 10):
        assert _whole_day(fetcher, date(2026, 12, day)), day
    # the 11th is not published before 13:00 on the meters' clock: it is the one day missing
    assert fetcher.missing_days(days_back=2) == [date(2026, 12, 11)]
    assert fetcher.health.known_until == datetime(2026, 12, 10, 23, tzinfo=UTC)


def test_the_meters_day_is_that_of_the_latest_reading(tmp_path: Path) -> None:
    from hanport.reader.storage.writer import Writer
    from reader.reader_synthetic import pushes

    engine = open_db(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    migrate(engine)
    assert latest_reading_day(engine) is None
    late = int(datetime(2026, 12, 6, 23, tzinfo=OSLO).timestamp())  # up to 00:00:05 on the 7th
    writer = Writer(engine)
    for push in pushes(late, 1):
        writer.add(push)
    writer.flush(final=True)
    assert latest_reading_day(engine) == date(2026, 12, 7)  # the local day (UTC's is the 6th)


async def test_the_price_loop_wakes_when_the_meters_day_changes(
    tmp_path: Path, market: tuple[str, _Clock]
) -> None:
    """A reader started before any reading waits for the publication (hours away); the first
    readings on a day ahead of the server's start a refresh at once, not at the publication."""
    import asyncio

    url, market_clock = market
    server = _Clock(datetime(2026, 12, 5, 8, tzinfo=UTC))
    market_clock.now = server.now  # the meters' clock, before there are meters
    meter: dict[str, date | None] = {"day": None}
    fetcher = _fetcher(tmp_path, url, server)
    fetcher.meter_day = lambda: meter["day"]
    stored = asyncio.Event()
    loop = asyncio.create_task(run_prices(fetcher, stored.set, poll=0.02))
    try:
        await asyncio.wait_for(stored.wait(), 30)  # the server's days, at start
        assert not _whole_day(fetcher, date(2026, 12, 6))
        stored.clear()
        market_clock.now = datetime(2026, 12, 6, 13, tzinfo=UTC)
        meter["day"] = date(2026, 12, 6)
        await asyncio.wait_for(stored.wait(), 30)
        assert _whole_day(fetcher, date(2026, 12, 6)) and _whole_day(fetcher, date(2026, 12, 7))
    finally:
        loop.cancel()
