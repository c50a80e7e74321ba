"""History's month view says how many of the reader's estimated hours hold the official values
after `hanport reconcile --replace-estimated` (in Chromium, the page in nynorsk)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hanport.cli import main
from hanport.i18n import translations
from hanport.reader.energy import LOCAL_TZ, HourEnergy
from hanport.reader.storage.booking import refresh_days, write_hours
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.web import ReaderContext, create_app
from reader.reader_synthetic import METER_ID, pushes
from services.serving import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATA = Path(__file__).parent.parent / "data" / "reconcile"
MAY_4 = int(dt.datetime(2026, 5, 4, tzinfo=LOCAL_TZ).timestamp())


def test_history_month_counts_the_replaced_hours(page: Page, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reader.sqlite3'}"
    engine = open_db(url)
    writer = Writer(engine)
    for push in pushes(MAY_4, 4):
        writer.add(push)
    writer.flush(final=True)
    with engine.begin() as conn:  # the reader estimated 01:00 and 03:00
        guesses = [HourEnergy(MAY_4 + h * 3600, 2.345, 0.0, True) for h in (1, 3)]
        refresh_days(conn, METER_ID, write_hours(conn, METER_ID, guesses))
    main(["reconcile", str(DATA / "elhub-hourly.csv"), "--db", url, "--replace-estimated"])
    template = "{replaced} hours the reader estimated hold the official values (hanport reconcile --replace-estimated)"  # noqa: E501
    wanted = translations("reader", "nn").gettext(template).replace("{replaced}", "2")
    for served in serve_in_thread(create_app(ReaderContext(engine=engine)), "reader"):
        page.context.add_cookies([{"name": "hanport_lang", "value": "nn", "url": served}])
        page.goto(f"{served}/history?view=month&date=2026-05-04&meter={METER_ID}")
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_selector("[data-testid=reconcile-replaced]", state="visible")
        assert page.text_content("[data-testid=reconcile-replaced]") == wanted
    engine.dispose()
