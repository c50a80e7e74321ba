"""History's "Change (matching times)" compares only when the earlier period has data for at
least nine tenths of the times the shown period has; otherwise it says how many it has (in
Chromium, the page in English and in bokmål)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hanport.i18n import translations
from hanport.reader.energy import LOCAL_TZ, HourEnergy
from hanport.reader.storage.booking import refresh_days, write_hours
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.web import ReaderContext, create_app
from reader.reader_synthetic import pushes
from services.serving import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAY_4 = int(dt.datetime(2026, 5, 4, tzinfo=LOCAL_TZ).timestamp())
MAY_3 = MAY_4 - 24 * 3600
MAY_5 = MAY_4 + 24 * 3600
STARTED = "started-late"  # the previous day has 2 of the 14 hours (the reader started at 12:00)
WHOLE = "whole-days"  # the previous day has 13 of the 14 hours (more than nine tenths)
ENGLISH = "not comparable: the earlier period has data for {have} of {want} hours"


def _hours(start: int, first: int, last: int, kwh: float) -> list[HourEnergy]:
    return [HourEnergy(start + h * 3600, kwh, 0.1, False) for h in range(first, last)]


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reader.sqlite3'}"
    engine = open_db(url)
    writer = Writer(engine)
    for meter in (STARTED, WHOLE):  # the meters, seen by the reader on the day after
        for push in pushes(MAY_5, 1, meter_id=meter, step=600):
            writer.add(push)
    writer.flush(final=True)
    with engine.begin() as conn:
        for meter, first_before in ((STARTED, 12), (WHOLE, 1)):
            booked = _hours(MAY_3, first_before, 14, 0.1) + _hours(MAY_4, 0, 14, 2.0)
            refresh_days(conn, meter, write_hours(conn, meter, booked))
    engine.dispose()
    return url


def _change(page: Page, served: str, meter: str) -> tuple[str, str | None]:
    page.goto(f"{served}/history?view=day&date=2026-05-04&meter={meter}")
    page.wait_for_selector("body[data-ready=true]")
    shown = page.text_content("#change-import") or ""
    return shown, page.get_attribute("#change-import", "data-comparable")


def test_change_only_when_the_earlier_day_covers_the_times(page: Page, tmp_path: Path) -> None:
    engine = open_db(_database(tmp_path))
    page.set_viewport_size({"width": 375, "height": 800})
    for served in serve_in_thread(create_app(ReaderContext(engine=engine)), "reader"):
        page.context.add_cookies([{"name": "hanport_lang", "value": "en", "url": served}])
        shown, comparable = _change(page, served, STARTED)
        assert comparable == "false"
        assert shown == ENGLISH.replace("{have}", "2").replace("{want}", "14")
        assert page.is_hidden("#change-export")
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert scroll <= inner, "the note wraps at 375 px, no sideways scroll"
        # 13 of 14 hours: 14 × 2.0 kWh against 13 × 0.1 over the 13 hours both have
        shown, comparable = _change(page, served, WHOLE)
        assert comparable == "true" and shown.endswith(" %") and shown.startswith("+")
        assert page.is_visible("#change-export")
        page.context.add_cookies([{"name": "hanport_lang", "value": "nb", "url": served}])
        shown, _ = _change(page, served, STARTED)
        nb = translations("reader", "nb").gettext(ENGLISH)
        assert shown == nb.replace("{have}", "2").replace("{want}", "14")
    engine.dispose()
