"""Today's cost card: cost today and this month from the API's cost fields, the cheapest hours
ahead from the cached prices, and an honest empty state without a tariff or prices. Against a
real SQLite store with saved prices; the last test reads the card in Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hanport.reader.cost_rows import plan_from_settings
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.prices.store import SpotPrice, save_spot_prices
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.web import ReaderContext, create_app
from reader.reader_synthetic import METER_ID, pushes
from services.browser import screenshot
from services.serving import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

DAY = datetime(2026, 2, 2, tzinfo=LOCAL_TZ)
START = int(DAY.timestamp())
NOW = START + 10 * 3600 + 1800  # 10:30 on the meter's day
#: hour index from DAY 00:00 → a price well below the rest (0.50 + i/100 NOK/kWh)
CHEAP = {3: 0.01, 14: 0.05, 27: 0.02, 30: 0.03, 40: 0.04}


def _price(i: int) -> float:
    return CHEAP.get(i, 0.5 + i / 100)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = open_db(str(tmp_path_factory.mktemp("cost") / "cost.sqlite3"))
    writer = Writer(engine)
    for push in pushes(START, 10):
        writer.add(push)
    writer.flush(final=True)
    at = DAY.astimezone(UTC)
    prices = [
        SpotPrice(at + timedelta(hours=i), at + timedelta(hours=i + 1), _price(i) * 87, _price(i))
        for i in range(48)  # today and tomorrow
    ]
    with engine.begin() as conn:
        save_spot_prices(conn, "NO5", prices)
    return engine


def _context(engine: Engine, *, priced: bool = True, zone: str = "NO5") -> ReaderContext:
    plan = plan_from_settings("bkk-2024", zone) if priced else None
    return ReaderContext(
        engine=engine, clock=lambda: NOW, prices_zone=zone if priced else None, cost_plan=plan
    )


def _today(ctx: ReaderContext) -> str:
    client = TestClient(create_app(ctx), cookies={"hanport_lang": "en"})
    response = client.get(f"/today?meter={METER_ID}")
    assert response.status_code == 200
    return response.text


def _embedded(html: str) -> dict[str, list[dict[str, object]]]:
    match = re.search(r'<script id="initial" type="application/json">(.*?)</script>', html)
    assert match
    loaded: dict[str, list[dict[str, object]]] = json.loads(match.group(1))
    return loaded


def test_cheapest_hours_ahead_from_the_cached_prices(engine: Engine) -> None:
    html = _today(_context(engine))
    rows = re.findall(r'<tr data-start="([^"]+)"><td>([^<]+)</td><td>([^<]+)</td>', html)
    # 03:00 is past at 10:30; the four cheapest of the rest of today and tomorrow, in time order
    assert rows == [
        ("2026-02-02 14:00", "14:00", "0.05"),
        ("2026-02-03 03:00", "03:00 (tomorrow)", "0.02"),
        ("2026-02-03 06:00", "06:00 (tomorrow)", "0.03"),
        ("2026-02-03 16:00", "16:00 (tomorrow)", "0.04"),
    ]
    assert 'data-testid="cost-not-configured"' not in html
    bokmaal = TestClient(create_app(_context(engine))).get(f"/today?meter={METER_ID}").text
    assert "<td>03:00 (i morgen)</td><td>0,02</td>" in bokmaal  # the page's language and commas


def test_the_page_carries_the_cost_of_today_and_the_month(engine: Engine) -> None:
    answers = _embedded(_today(_context(engine)))
    hours = next(v for k, v in answers.items() if k.startswith("/api/hours?"))
    (month,) = next(v for k, v in answers.items() if k.startswith("/api/months?"))
    costs = [h["cost_nok"] for h in hours]
    assert len(costs) == 10 and all(isinstance(c, float) and c > 0 for c in costs)
    assert month["cost_nok"] == pytest.approx(sum(c for c in costs if isinstance(c, float)), 1e-3)


def test_without_a_tariff_the_card_says_what_to_configure(engine: Engine) -> None:
    html = _today(_context(engine, priced=False))
    assert 'data-testid="cost-not-configured"' in html
    assert "[tariff] company" in html and "cheapest-rows" not in html


def test_without_cached_prices_the_card_says_none_yet(engine: Engine) -> None:
    html = _today(_context(engine, zone="NO1"))  # prices are saved for NO5 only
    assert 'data-testid="no-prices-ahead"' in html and "cheapest-rows" not in html


@pytest.fixture
def served(engine: Engine) -> Iterator[str]:
    yield from serve_in_thread(create_app(_context(engine)), "reader with prices")


@pytest.mark.browser
@pytest.mark.slow
def test_browser_shows_cost_today_this_month_and_cheapest_hours(
    page: Page, served: str, engine: Engine
) -> None:
    hours = TestClient(create_app(_context(engine))).get(
        "/api/hours", params={"from": "2026-02-02T00:00", "to": "2026-02-03T00:00"}
    )
    today = sum(h["cost_nok"] for h in hours.json())
    page.context.add_cookies([{"name": "hanport_lang", "value": "en", "url": served}])
    page.goto(f"{served}/today?meter={METER_ID}")
    page.wait_for_selector("body[data-ready=true]")
    shown = f"{today:.2f} NOK"
    assert page.text_content("[data-testid=cost-today]") == shown
    assert page.text_content("[data-testid=cost-month]") == shown  # the month's only day
    assert page.locator("[data-testid=cheapest-rows] tr").count() == 4
    screenshot(page, "today-cost")


_JSON_TYPES = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "null": type(None),
}


@pytest.mark.parametrize("kind", ["hours", "days", "months"])
def test_the_cost_keys_the_card_reads_are_in_the_openapi(engine: Engine, kind: str) -> None:
    app = create_app(_context(engine))
    content = app.openapi()["paths"][f"/api/{kind}"]["get"]["responses"]["200"]["content"]
    row_schema = content["application/json"]["schema"]["items"]
    rows = (
        TestClient(app)
        .get(f"/api/{kind}", params={"from": "2026-02-01", "to": "2026-03-01"})
        .json()
    )
    assert rows and all(row["cost_nok"] is not None for row in rows)
    for row in rows:
        assert set(row_schema["required"]) <= set(row)
        for key, value in row.items():
            declared = row_schema["properties"][key]["type"]
            allowed = tuple(
                _JSON_TYPES[t] for t in ([declared] if isinstance(declared, str) else declared)
            )
            assert isinstance(value, allowed), (key, value)  # type: ignore[arg-type]


# Prices known until 07:00 on the meter's day (the fetcher has not reached the rest yet): the
# month's hours since 1 February 00:00 mostly have a cost, today's last three have none.
PRICED_UNTIL = 7


@pytest.fixture(scope="module")
def partly_priced(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = open_db(str(tmp_path_factory.mktemp("partly") / "cost.sqlite3"))
    writer = Writer(engine)
    for push in pushes(START - 24 * 3600, 34):  # 1 February 00:00 to 2 February 10:00
        writer.add(push)
    writer.flush(final=True)
    at = DAY.astimezone(UTC)
    prices = [
        SpotPrice(at + timedelta(hours=i), at + timedelta(hours=i + 1), 50.0, 0.5 + i / 100)
        for i in range(-24, PRICED_UNTIL)
    ]
    with engine.begin() as conn:
        save_spot_prices(conn, "NO5", prices)
    return engine


def test_the_month_sums_its_priced_hours_and_counts_the_others(partly_priced: Engine) -> None:
    client = TestClient(create_app(_context(partly_priced)))
    window = {"from": "2026-02-01", "to": "2026-03-01"}
    hours = client.get("/api/hours", params=window).json()
    assert len(hours) == 34
    (month,) = client.get("/api/months", params=window).json()
    assert month["cost_nok"] is None  # no total that looks complete but is not
    assert month["unpriced_hours"] == 3
    priced = [h["cost_nok"] for h in hours if h["cost_nok"] is not None]
    assert len(priced) == 31
    assert month["priced_cost_nok"] == pytest.approx(sum(priced), abs=1e-3)
    first, second = client.get("/api/days", params=window).json()
    assert first["unpriced_hours"] == 0 and first["priced_cost_nok"] == first["cost_nok"]
    assert second["unpriced_hours"] == 3 and second["cost_nok"] is None
    # an hour: its own cost, or none
    assert {(h["unpriced_hours"], h["priced_cost_nok"] is None) for h in hours} == {
        (0, False),
        (1, True),
    }


@pytest.fixture
def served_partly(partly_priced: Engine) -> Iterator[str]:
    yield from serve_in_thread(create_app(_context(partly_priced)), "reader, prices partly")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("lang", "note"), [("en", "3 hours without a price"), ("nn", "3 timar utan pris")]
)
def test_browser_cost_card_says_how_many_hours_had_no_price(
    page: Page, served_partly: str, partly_priced: Engine, lang: str, note: str
) -> None:
    client = TestClient(create_app(_context(partly_priced)))
    (month,) = client.get("/api/months", params={"from": "2026-02-01", "to": "2026-03-01"}).json()
    today = client.get("/api/days", params={"from": "2026-02-02", "to": "2026-02-03"}).json()
    page.context.add_cookies([{"name": "hanport_lang", "value": lang, "url": served_partly}])
    page.goto(f"{served_partly}/today?meter={METER_ID}")
    page.wait_for_selector("body[data-ready=true]")
    unit = "NOK" if lang == "en" else "kr"

    def shown(value: float) -> str:
        text = f"{value:.2f}"
        return f"{text if lang == 'en' else text.replace('.', ',')} {unit} ({note})"

    assert page.text_content("[data-testid=cost-today]") == shown(today[0]["priced_cost_nok"])
    assert page.text_content("[data-testid=cost-month]") == shown(month["priced_cost_nok"])
    screenshot(page, f"today-cost-unpriced-{lang}")


@pytest.fixture
def served_swedish(engine: Engine) -> Iterator[str]:
    plan = plan_from_settings("seom-2025", "SE3")
    ctx = ReaderContext(engine=engine, clock=lambda: NOW, prices_zone="SE3", cost_plan=plan)
    yield from serve_in_thread(create_app(ctx), "reader with a Swedish tariff")


@pytest.mark.browser
@pytest.mark.slow
def test_a_swedish_tariff_shows_its_own_rules_charge(
    page: Page, served_swedish: str, served: str, engine: Engine
) -> None:
    plan = plan_from_settings("seom-2025", "SE3")
    ctx = ReaderContext(engine=engine, clock=lambda: NOW, prices_zone="SE3", cost_plan=plan)
    (tariff,) = TestClient(create_app(ctx)).get("/api/tariff", params={"month": "2026-02"}).json()
    rule = tariff["by_tariff_rule"]
    page.context.add_cookies([{"name": "hanport_lang", "value": "en", "url": served_swedish}])
    page.goto(f"{served_swedish}/today?meter={METER_ID}")
    page.wait_for_selector("body[data-ready=true]")
    by_rule = page.locator("[data-testid=by-rule]")
    assert by_rule.is_visible()
    assert by_rule.text_content() == f"{rule['kw']:.2f} kW · {rule['charge']:.2f} SEK"
    screenshot(page, "today-swedish-rule")
    # a Norwegian tariff's own rule is the steps above: no second line
    page.context.add_cookies([{"name": "hanport_lang", "value": "en", "url": served}])
    page.goto(f"{served}/today?meter={METER_ID}")
    page.wait_for_selector("body[data-ready=true]")
    assert not page.locator("[data-testid=by-rule]").is_visible()
