"""Health shows the day-ahead prices (zone, last fetch, whether tomorrow's are out, the error
while the network is down) from /api/health's ``prices``, and every health message comes from
the reader's catalogs in the page's language (nb, nn, en). Against the stand-in ENTSO-E and
Norges Bank servers; the browser test reads the card in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from hanport.emulator.market import market_app
from hanport.i18n import translations
from hanport.reader import api
from hanport.reader.prices.fetch import PriceFetcher, PriceSource, price_status
from hanport.reader.storage.database import open_db
from hanport.reader.web import ReaderContext, create_app
from services.serving import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

SRC = Path(__file__).resolve().parents[2] / "src" / "hanport" / "reader"
DOWN = PriceSource("NO1", "token", "http://127.0.0.1:9/api", "http://127.0.0.1:9/x", timeout=1,
                   attempts=1, backoff=0)  # fmt: skip


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Prices:
    fetcher: PriceFetcher
    market: PriceSource  # the stand-in servers, for when the network comes back
    context: ReaderContext


@pytest.fixture
def prices(tmp_path: Path) -> Iterator[Prices]:
    # Friday 27 March 2026, 11:30 Oslo: today's prices are out, tomorrow's are not yet
    clock = Clock(datetime(2026, 3, 27, 10, 30, tzinfo=UTC))
    for url in serve_in_thread(market_app(clock), "market"):
        engine = open_db(str(tmp_path / "r.sqlite3"))
        market = PriceSource("NO1", "token", f"{url}/api", f"{url}/api/data/EXR/B.EUR.NOK.SP",
                             timeout=5, attempts=1, backoff=0)  # fmt: skip
        fetcher = PriceFetcher(engine, market, clock=clock, sleep=lambda _: None)
        assert fetcher.refresh(days_back=0)
        context = ReaderContext(
            engine=engine,
            prices_zone="NO1",
            price_status=partial(price_status, fetcher),
            clock=lambda: clock().timestamp(),
        )
        yield Prices(fetcher, market, context)
        engine.dispose()


def test_health_prices_block_says_whether_tomorrow_is_out(prices: Prices) -> None:
    client = TestClient(create_app(prices.context, dashboard=False))
    block = client.get("/api/health").json()["prices"]
    assert block["zone"] == "NO1" and block["problem"] is None
    assert block["last_success"] == "2026-03-27T10:30:00+00:00"
    assert block["tomorrow_known"] is False
    assert block["known_until"] == "2026-03-27T23:00:00+00:00"  # midnight Oslo
    clock = prices.fetcher.clock
    assert isinstance(clock, Clock)
    clock.now = datetime(2026, 3, 27, 12, 30, tzinfo=UTC)  # published
    assert prices.fetcher.refresh(days_back=0)
    assert client.get("/api/health").json()["prices"]["tomorrow_known"] is True


@pytest.mark.parametrize("language", ["nb", "nn", "en"])
def test_health_messages_come_from_the_catalogs(prices: Prices, language: str) -> None:
    prices.fetcher.source = DOWN
    assert not prices.fetcher.refresh(days_back=0)
    problem = prices.fetcher.health.problem
    assert problem
    client = TestClient(create_app(prices.context, dashboard=False))
    issues = client.get("/api/health", headers={"Accept-Language": language}).json()["issues"]
    (issue,) = [i for i in issues if i["code"] == "prices_failing"]
    wanted = translations("reader", language).gettext(api.ISSUE_TEXTS["prices_failing"])
    assert issue["message"] == wanted.format(error=problem)
    # the dashboard's own choice (its cookie) wins over the browser's
    client.cookies.set("hanport_lang", language)
    issues = client.get("/api/health", headers={"Accept-Language": "en"}).json()["issues"]
    assert [i["message"] for i in issues if i["code"] == "prices_failing"] == [issue["message"]]


def test_a_retrying_source_is_told_in_the_pages_language(prices: Prices) -> None:
    from hanport.reader.pipeline import Hub

    hub = Hub()
    status = hub.add_source("tcp://10.0.0.7:3000", "tcp")
    status.state = "retrying"
    status.detail = "[Errno 111] Connection refused (nytt forsøk om / retry in 4.0 s)"
    prices.context.hub = hub
    health = api.health(prices.context, "nn")
    (issue,) = [i for i in health["issues"] if i["code"] == "source_retrying"]
    assert issue["message"] == (
        "tcp://10.0.0.7:3000: [Errno 111] Connection refused (prøver att om 4.0 s)"
    )
    english = api.health(prices.context, "en")["issues"]
    assert "(retrying in 4.0 s)" in next(i["message"] for i in english if i["level"] == "error")


def test_every_health_text_is_a_catalog_message() -> None:
    """No health text written out in bokmål or English in the code (the old "nb / en" pairs)."""
    for code, text in api.ISSUE_TEXTS.items():
        words = re.sub(r"\{\w+\}|[^A-Za-z]", "", text)
        for language in ("nb", "nn"):
            translated = translations("reader", language).gettext(text)
            assert translated != text or words in ("", "Database"), (code, language)
    source = (SRC / "api.py").read_text()
    body = source[source.index("def _source_issues") : source.index("def prices(")]
    assert not re.search(r'"[^"\n]* / [^"\n]*"', body), "a hard-coded 'nb / en' text"
    assert "ingen rammer" not in body and "feiler" not in body


@pytest.mark.browser
@pytest.mark.slow
def test_browser_health_shows_the_prices_card(page: Page, prices: Prices) -> None:
    for url in serve_in_thread(create_app(prices.context), "reader with prices"):
        page.context.add_cookies([{"name": "hanport_lang", "value": "nn", "url": url}])
        page.goto(f"{url}/health")
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector("#prices-details", state="visible")
        nn = translations("reader", "nn")
        assert page.text_content("[data-testid=prices-zone]") == "NO1"
        assert page.text_content("[data-testid=prices-fetched]") == "2026-03-27 11:30"  # Oslo
        tomorrow = nn.gettext("Not published yet (usually about 13:00)")
        assert page.text_content("[data-testid=prices-tomorrow]") == tomorrow
        assert page.is_hidden("[data-testid=prices-error]") and page.is_hidden("#prices-off")
        # the network goes away: the card shows why, the issue list says it in nynorsk
        prices.fetcher.source = DOWN
        prices.fetcher.refresh(days_back=1)
        problem = prices.fetcher.health.problem
        assert problem
        page.wait_for_selector("[data-testid=prices-error]", state="visible", timeout=10_000)
        assert page.text_content("[data-testid=prices-problem]") == problem
        wanted = nn.gettext(api.ISSUE_TEXTS["prices_failing"]).format(error=problem)
        page.wait_for_function(
            "text => [...document.querySelectorAll('#issues li')]"
            ".some(li => li.textContent.endsWith(text))",
            arg=wanted,
        )
        assert f"{nn.gettext('Warning')}: {wanted}" in (page.text_content("#issues") or "")
        # it comes back after 13:00: tomorrow's prices are out, the error is gone
        clock = prices.fetcher.clock
        assert isinstance(clock, Clock)
        clock.now = datetime(2026, 3, 27, 12, 30, tzinfo=UTC)
        prices.fetcher.source = prices.market
        assert prices.fetcher.refresh(days_back=0)
        page.wait_for_selector("[data-testid=prices-error]", state="hidden", timeout=10_000)
        assert page.text_content("[data-testid=prices-tomorrow]") == nn.gettext("Published")
        assert page.text_content("[data-testid=prices-fetched]") == "2026-03-27 13:30"
