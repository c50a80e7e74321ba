"""Home Assistant's price sensor: announced as HA's Energy dashboard wants a price entity
(monetary, NOK/kWh, no state class), its state carries the hour's price and goes out again when
prices arrive and when the hour changes, through a real Mosquitto and the stand-in ENTSO-E and
Norges Bank servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from hanport.emulator.market import market_app
from hanport.reader.cost_rows import hour_price, plan_from_settings
from hanport.reader.mqtt.discovery import discovery_message
from hanport.reader.prices.fetch import PriceFetcher, PriceSource, run_prices
from hanport.reader.prices.store import SpotPrice, save_spot_prices, spot_prices
from hanport.reader.storage.database import open_db
from services.serving import serve_in_thread

METER = {"meter_id": "5706567274389702", "manufacturer": "Kamstrup"}
STATE = "tp/5706567274389702/state"
UTC = dt.UTC


def test_the_price_sensor_is_what_the_energy_dashboard_takes() -> None:
    _, payload = discovery_message(METER)
    price = payload["cmps"]["hanport_5706567274389702_price_nok_per_kwh"]
    assert price["p"] == "sensor"
    assert price["device_class"] == "monetary" and price["unit_of_measurement"] == "NOK/kWh"
    # HA allows only "total" for monetary, and a price is no running total: no state class
    assert "state_class" not in price
    assert price["value_template"] == "{{ value_json.get('price_nok_per_kwh') }}"


def test_hour_price_with_a_tariff_is_spot_grid_and_support_with_vat(tmp_path: Path) -> None:
    engine = open_db(str(tmp_path / "p.sqlite3"))
    noon = dt.datetime(2024, 5, 2, 10, tzinfo=UTC)  # Thursday 12:00 in Bergen (NO5)
    with engine.begin() as conn:
        save_spot_prices(conn, "NO5", [SpotPrice(noon, noon + dt.timedelta(hours=1), 100, 1.23)])
    with engine.connect() as conn:
        plain = hour_price(conn, "NO5", None, noon.timestamp() + 1800)
        bkk = hour_price(conn, "NO5", plan_from_settings("bkk-2024", "NO5"), noon.timestamp())
        unknown = hour_price(conn, "NO5", None, noon.timestamp() + 3600)
    assert plain == pytest.approx(1.23 * 1.25)
    # BKK's day rate + consumption tax and Enova (2024), less strømstøtte: 90 % above 73 øre
    grid = (0.2775 + 0.1644 + 0.01) * 1.25
    support = 0.9 * (1.23 - 0.73) * 1.25
    assert bkk == pytest.approx(1.23 * 1.25 + grid - support, abs=1e-4)
    assert unknown is None


class MovingClock:
    """Real time shifted to a chosen moment (the publisher waits real seconds for the hour)."""

    def __init__(self, at: dt.datetime) -> None:
        self.set(at)

    def set(self, at: dt.datetime) -> None:
        self.offset = at.timestamp() - time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self(), UTC)


@pytest.fixture
def market_clock() -> Iterator[tuple[str, MovingClock]]:
    # Friday 27 March 2026, 11:30 Oslo: today's prices are out, tomorrow's are not yet
    clock = MovingClock(dt.datetime(2026, 3, 27, 10, 30, tzinfo=UTC))
    yield from ((url, clock) for url in serve_in_thread(market_app(clock.utc), "market"))


async def _next_price(client: aiomqtt.Client, timeout: float = 15) -> float | None:
    async with asyncio.timeout(timeout):
        async for message in client.messages:
            if str(message.topic) == STATE:
                state = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                price: float | None = state["price_nok_per_kwh"]
                return price
    raise AssertionError("no state")


def _expected(fetcher: PriceFetcher, hour: dt.datetime) -> float:
    """Independently: the mean of the hour's four quarter-hour prices, with 25 % VAT."""
    with fetcher.engine.connect() as conn:
        quarters = spot_prices(conn, "NO1", hour, hour + dt.timedelta(hours=1))
    assert len(quarters) == 4
    return sum(q.nok_per_kwh for q in quarters) / 4 * 1.25


async def test_price_state_when_prices_arrive_and_when_the_hour_changes(
    mosquitto: tuple[str, int], market_clock: tuple[str, MovingClock], tmp_path: Path
) -> None:
    from hanport.reader.mqtt.publisher import MqttPublisher

    host, port = mosquitto
    url, clock = market_clock
    engine = open_db(str(tmp_path / "r.sqlite3"))
    source = PriceSource("NO1", "token", f"{url}/api", f"{url}/api/data/EXR/B.EUR.NOK.SP",
                         timeout=5, attempts=1, backoff=0)  # fmt: skip
    fetcher = PriceFetcher(engine, source, clock=clock.utc, sleep=lambda _: None)

    def lookup(at: float) -> float | None:
        with engine.connect() as conn:
            return hour_price(conn, "NO1", None, at)

    publisher = MqttPublisher(host, port, client_id="test-price", base_topic="tp", clock=clock,
                              price_lookup=lookup)  # fmt: skip
    publisher.update({**METER, "active_power_import_w": 900})
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(STATE)
        task = asyncio.create_task(publisher.run())
        prices_task: asyncio.Task[None] | None = None
        try:
            assert await _next_price(client) is None  # no prices fetched yet: unknown
            # the fetch stores today's prices: the state goes out again with the price
            prices_task = asyncio.create_task(run_prices(fetcher, publisher.prices_changed))
            this_hour = dt.datetime(2026, 3, 27, 10, tzinfo=UTC)
            price = await _next_price(client)
            assert price == pytest.approx(_expected(fetcher, this_hour), abs=1e-4)
            # a second before 12:00 Oslo; no reading comes, yet at the hour the new price does
            clock.set(dt.datetime(2026, 3, 27, 10, 59, 59, tzinfo=UTC))
            publisher.recheck()  # the test moved the clock: the publisher's wait starts over
            next_hour = dt.datetime(2026, 3, 27, 11, tzinfo=UTC)
            price = await _next_price(client)
            assert clock() >= next_hour.timestamp()  # not before the hour
            now, before = _expected(fetcher, next_hour), _expected(fetcher, this_hour)
            assert price == pytest.approx(now, abs=1e-4)
            assert now != pytest.approx(before, abs=1e-4)
        finally:
            for t in (task, prices_task):
                if t is not None:
                    t.cancel()
            await asyncio.gather(task, *([prices_task] if prices_task else []),
                                 return_exceptions=True)  # fmt: skip
    engine.dispose()
