"""The dashboard's server side: pages, language choice, history periods (no browser needed)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hanport.reader.dashboard import install
from hanport.reader.dashboard.i18n import (
    COOKIE_NAME,
    LANGUAGES,
    SCRIPT_TEXTS,
    choose_language,
    script_texts,
)
from hanport.reader.dashboard.periods import PeriodError, parse_anchor, period_for


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install(app)
    return TestClient(app)


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "nb"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "nb-NO,nb;q=0.9,en;q=0.8", "nb"),
        (None, "no", "nb"),
        (None, "nn-NO", "nn"),
        ("nn", "en-GB", "nn"),
        (None, "de-DE,en;q=0.5,nb;q=0.7", "nb"),
        (None, "fr-FR", "nb"),
        (None, "en;q=bogus,nb;q=0.1", "nb"),
        ("en", "nb-NO", "en"),
        ("xx", "en-US", "en"),
    ],
)
def test_language_from_cookie_then_accept_language(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert choose_language(cookie, header) == expected


def test_the_scripts_get_every_text_they_show_in_every_language() -> None:
    scripts = Path(__file__).parents[2] / "src/hanport/reader/dashboard/static"
    used = {
        key for path in scripts.glob("*.js") for key in re.findall(r"\bT\.(\w+)", path.read_text())
    }
    assert used <= SCRIPT_TEXTS.keys()
    for language in LANGUAGES:
        texts = script_texts(language)
        assert texts.keys() == SCRIPT_TEXTS.keys() and all(texts.values())
    assert script_texts("nn")["conn_stored"] == "Inga direktekjelde – viser lagra data"


@pytest.mark.parametrize("path", ["/", "/today", "/history", "/health"])
def test_each_page_renders_in_each_language(client: TestClient, path: str) -> None:
    bokmaal = client.get(path, headers={"Accept-Language": "nb-NO"})
    nynorsk = client.get(path, headers={"Accept-Language": "nn-NO"})
    english = client.get(path, headers={"Accept-Language": "en-GB"})
    assert bokmaal.status_code == nynorsk.status_code == english.status_code == 200
    assert '<html lang="nb">' in bokmaal.text and "Historikk" in bokmaal.text
    assert '<html lang="nn">' in nynorsk.text and ">No</a>" in nynorsk.text
    assert '<html lang="en">' in english.text and "History" in english.text
    texts = re.search(r'<script id="texts" type="application/json">(.*?)</script>', nynorsk.text)
    assert texts and json.loads(texts.group(1))["load_error"] == script_texts("nn")["load_error"]
    # the switch offers every language, each named in itself
    for name in ("Bokmål", "Nynorsk", "English"):
        assert name in bokmaal.text
    assert 'id="lang-nn"' in bokmaal.text and 'id="lang-nb"' not in bokmaal.text
    assert 'name="viewport"' in bokmaal.text
    # Served locally, never from a CDN: the dashboard must work on a LAN without internet.
    assert "/static/vendor/uPlot.iife.min.js" in bokmaal.text
    assert "https://" not in bokmaal.text and "http://" not in bokmaal.text


def test_language_switch_sets_a_cookie_and_returns_to_the_page(client: TestClient) -> None:
    response = client.get("/lang/en?next=/history?view=month", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/history?view=month"
    assert f"{COOKIE_NAME}=en" in response.headers["set-cookie"]
    page = client.get("/", headers={"Accept-Language": "nb-NO"})
    assert '<html lang="en">' in page.text  # the cookie the client kept wins


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "evil"])
def test_language_switch_never_redirects_off_site(client: TestClient, target: str) -> None:
    response = client.get("/lang/nb", params={"next": target}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_unknown_language_sets_no_cookie(client: TestClient) -> None:
    response = client.get("/lang/xx?next=/", follow_redirects=False)
    assert response.status_code == 303
    assert "set-cookie" not in response.headers


def test_history_navigation_links(client: TestClient) -> None:
    page = client.get("/history?view=month&date=2026-03-15").text
    assert 'data-start="2026-03-01"' in page and 'data-end="2026-04-01"' in page
    assert 'data-endpoint="days"' in page
    assert "/history?view=month&amp;date=2026-02-01" in page  # previous
    assert "/history?view=month&amp;date=2026-04-01" in page  # next


@pytest.mark.parametrize("query", ["view=week", "date=2026-13-01", "date=yesterday"])
def test_history_bad_query_is_a_clear_400(client: TestClient, query: str) -> None:
    response = client.get(f"/history?{query}", headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert 'data-testid="history-error"' in response.text
    assert "history.js" not in response.text


def test_history_bad_query_says_why_in_the_page_language(client: TestClient) -> None:
    nynorsk = client.get("/history?view=week", headers={"Accept-Language": "nn"})
    assert "Ukjend vising «week»; bruk ei av day, month, year" in nynorsk.text
    english = client.get("/history?date=yesterday", headers={"Accept-Language": "en"})
    assert "Cannot read the date “yesterday”; use YYYY-MM-DD" in english.text


def test_static_files_are_served(client: TestClient) -> None:
    for name in ("common.js", "now.js", "today.js", "history.js", "health.js", "dashboard.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_periods() -> None:
    day = period_for("day", date(2026, 3, 29))
    assert (day.start, day.end, day.previous_start, day.previous_end) == (
        date(2026, 3, 29),
        date(2026, 3, 30),
        date(2026, 3, 28),
        date(2026, 3, 29),
    )
    assert day.endpoint == "hours"
    january = period_for("month", date(2026, 1, 31))
    assert (january.start, january.end) == (date(2026, 1, 1), date(2026, 2, 1))
    assert (january.previous_start, january.previous_end) == (date(2025, 12, 1), date(2026, 1, 1))
    december = period_for("month", date(2025, 12, 9))
    assert december.end == date(2026, 1, 1)
    year = period_for("year", date(2026, 6, 1))
    assert (year.start, year.end, year.previous_start) == (
        date(2026, 1, 1),
        date(2027, 1, 1),
        date(2025, 1, 1),
    )
    assert year.endpoint == "months"
    with pytest.raises(PeriodError):
        period_for("week", date(2026, 1, 1))


def test_parse_anchor() -> None:
    today = date(2026, 11, 26)
    assert parse_anchor(None, today) == today
    assert parse_anchor("2025", today) == date(2025, 1, 1)
    assert parse_anchor("2025-02", today) == date(2025, 2, 1)
    assert parse_anchor("2025-02-28", today) == date(2025, 2, 28)
    with pytest.raises(PeriodError):
        parse_anchor("2025-02-30", today)


def test_static_files_are_cached_only_under_the_current_version(client: TestClient) -> None:
    page = client.get("/").text
    version = page.split("/static/common.js?v=", 1)[1].split('"', 1)[0]
    cached = client.get(f"/static/common.js?v={version}")
    assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"
    # An old page asking with another version, or none, must revalidate.
    assert client.get("/static/common.js?v=old").headers["cache-control"] == "no-cache"
    assert client.get("/static/common.js").headers["cache-control"] == "no-cache"
    assert client.get("/").headers["cache-control"] == "no-cache"


def test_pages_preload_their_first_api_calls(client: TestClient) -> None:
    now = client.get("/").text
    assert '<link rel="preload" href="/api/meters" as="fetch" crossorigin>' in now
    assert '<link rel="preload" href="/api/now" as="fetch" crossorigin>' in now
    health = client.get("/health").text
    assert 'href="/api/frames/recent?limit=20" as="fetch"' in health
    assert 'rel="preload"' not in client.get("/history?view=week").text  # the error page


def test_favicon_is_served(client: TestClient) -> None:
    # browsers fetch /favicon.ico on their own; a 404 there is a console error on every visit
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")
    page = client.get("/").text
    assert 'rel="icon" href="/static/favicon.svg?v=' in page
    assert client.get("/static/favicon.svg").status_code == 200
