"""Shared fixtures for the whole test-suite: real services on loopback (see tests/services/).

Fixtures: ``mosquitto`` → (host, port); ``postgres_server`` and ``postgres_url`` (a fresh
database, SQLAlchemy URL with psycopg); ``smtp_server`` (.host, .port, .messages, .clear(),
.wait_for()); ``browser`` and ``page`` (Playwright on /usr/bin/chromium; ``page`` fails the
test on console errors); ``han_samples_dir`` and ``han_samples``. Helpers are importable:
``from services.ports import free_port``, ``from services.browser import screenshot``,
``from services.postgres import libpq_url``; wait for a condition, never a guessed time, with
``from services.waiting import wait_for, wait_for_async``, and move code's time on with
``services.clocks.MovableClock``. ``--both-databases`` runs every port-service test on
PostgreSQL as well as SQLite (tests/portal/conftest.py).
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path

import pytest

# The helpers are imported as `services.*` whatever pytest's import mode; tests/ is put on the
# path once, here, instead of in every test module.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from services.browser import screenshot  # noqa: E402
from services.fixtures import *  # noqa: E402, F403  (the fixtures, listed in its __all__)

# Tests that use these fixtures get the marker, so `-m "not browser"` / `-m "not postgres"`
# select correctly without every test repeating it.
_MARKER_FOR_FIXTURE = {
    "postgres_server": "postgres",
    "postgres_url": "postgres",
    "browser": "browser",
    "page": "browser",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--both-databases",
        action="store_true",
        help="run every port-service test on PostgreSQL as well as SQLite "
        "(by default only the tests marked both_databases)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _MARKER_FOR_FIXTURE.items():
            if fixture in fixtures and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # A failing browser test leaves a picture of what the page showed.
    if report.when == "call" and report.failed and "page" in getattr(item, "fixturenames", ()):
        page_fixture = getattr(item, "funcargs", {}).get("page")
        if page_fixture is not None:
            try:
                path = screenshot(page_fixture, f"FAILED-{item.name}")
                report.sections.append(("screenshot", str(path)))
            except Exception as exc:  # the page may be gone; the test's own error matters more
                report.sections.append(("screenshot", f"not taken: {exc}"))
    return report
