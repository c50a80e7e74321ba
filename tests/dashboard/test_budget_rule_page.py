"""This hour under a Swedish tariff (SEOM: weekdays 07-19, no holidays, per kW) in Chromium:
an hour that does not count says so in each language and has no limit; a counted hour shows
its limit, what is left and what each kWh above it adds to the month's charge.

Two synthetic meters fed to a live state: one whose latest reading is Saturday 10 January
12:20 (a weekend), one whose clock says Friday 9 January 10:20 (a counted hour)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from hanport.reader.dashboard.i18n import script_texts
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.live import LiveState
from hanport.reader.model import Push
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.tariffs import registry
from hanport.reader.web import ReaderContext, create_app
from reader.reader_synthetic import METER_ID, pushes
from services.browser import screenshot
from services.serving import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

START = int(datetime(2026, 1, 5, tzinfo=LOCAL_TZ).timestamp())  # Monday
SATURDAY = int(datetime(2026, 1, 10, 12, 20, tzinfo=LOCAL_TZ).timestamp())
FRIDAY = int(datetime(2026, 1, 9, 10, 20, tzinfo=LOCAL_TZ).timestamp())
WEEKEND_METER = METER_ID
WEEKDAY_METER = "5706567274389703"
NOW = SATURDAY + 2  # the reader's clock: both meters' latest pushes arrived 2 s ago


def _meter(meter_id: str, until: int) -> Iterator[Push]:
    """The synthetic meter from Monday 00:00 to ``until`` (its own clock), arriving as if its
    last push came at SATURDAY by the reader's clock."""
    shift = SATURDAY - until
    for push in pushes(START, (until - START) // 3600 + 1, meter_id=meter_id):
        if push.at > until:
            return
        yield dataclasses.replace(push, received_at=push.received_at + shift)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReaderContext]:
    engine = open_db(str(tmp_path_factory.mktemp("seom-page") / "seom.sqlite3"))
    writer = Writer(engine)
    live = LiveState(clock=lambda: NOW)
    for push in [*_meter(WEEKEND_METER, SATURDAY), *_meter(WEEKDAY_METER, FRIDAY)]:
        writer.add(push)
        live.update(push)
    writer.flush(final=True)
    yield ReaderContext(
        engine=engine, live=live, clock=lambda: NOW, grid_tariff=registry.load("seom-2025")
    )
    engine.dispose()


def _budget(context: ReaderContext, meter_id: str) -> dict[str, Any]:
    client = TestClient(create_app(context, dashboard=False))
    (budget,) = client.get("/api/budget", params={"meter_id": meter_id}).json()
    return dict(budget)


def test_the_api_says_which_hour_counts(context: ReaderContext) -> None:
    weekend = _budget(context, WEEKEND_METER)
    assert (weekend["stale"], weekend["counts"], weekend["reason"], weekend["limit_kwh"]) == (
        False, False, "weekend", None,
    )  # fmt: skip
    weekday = _budget(context, WEEKDAY_METER)
    assert weekday["hour_start"] == "2026-01-09T10:00:00"
    assert (weekday["stale"], weekday["counts"], weekday["currency"]) == (False, True, "SEK")
    # Monday, Wednesday and Thursday count (Tuesday is trettondedag jul): three days, so the
    # limit is the third day's peak (the synthetic afternoons beat this morning by far)
    assert weekday["reason"] is None and weekday["limit_kwh"] > weekday["used_kwh"] > 0
    assert weekday["over_cost_per_kwh"] == 36.0 and weekday["would_raise_step"] is False


@pytest.fixture(scope="module")
def served(context: ReaderContext) -> Iterator[str]:
    yield from serve_in_thread(create_app(context), "reader with SEOM")


def _open(page: Page, served: str, language: str, meter_id: str) -> None:
    page.context.add_cookies([{"name": "hanport_lang", "value": language, "url": served}])
    page.goto(f"{served}/?meter={meter_id}")
    page.wait_for_selector("body[data-ready=true]")


@pytest.mark.browser
@pytest.mark.slow
def test_this_hour_follows_the_swedish_rule_in_each_language(
    page: Page, served: str, context: ReaderContext
) -> None:
    for language in ("en", "nb", "nn"):
        expected = script_texts(language)["budget_not_counted_weekend"]
        _open(page, served, language, WEEKEND_METER)
        page.wait_for_function(
            "text => document.getElementById('budget-left').textContent === text", arg=expected
        )
        assert page.is_visible("[data-testid=budget-left]")
        assert page.text_content("#threshold") == "–"
        assert page.is_hidden("#rule-warning") and page.is_hidden("#tariff-warning")
        assert page.is_hidden("#tariff-ok")
        if language == "en":
            assert expected == (
                "This hour does not count toward the capacity charge: weekends do not count."
            )
            screenshot(page, "now-seom-weekend")
    weekday = _budget(context, WEEKDAY_METER)
    _open(page, served, "en", WEEKDAY_METER)
    page.wait_for_function("document.getElementById('threshold').textContent.includes('kWh')")
    assert page.text_content("#threshold") == f"{weekday['limit_kwh']:.2f} kWh"
    assert "left this hour" in (page.text_content("#budget-left") or "")
    assert page.text_content("#budget-rule") == "Each kWh above the limit adds 36.00 SEK a month."
    # no step to be below (a price per kW), and no warning: the projection is below the limit
    assert page.is_hidden("#tariff-ok") and page.is_hidden("#rule-warning")
    screenshot(page, "now-seom-weekday")
