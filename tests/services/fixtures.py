"""The pytest fixtures for the real services; ``tests/conftest.py`` re-exports them.

Session scope starts each service once, on first use, so a run that needs no browser never
launches one. Every fixture stops its service in a ``finally`` (teardown also runs when tests
fail), and the processes get a parent-death signal for runs that are killed outright.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .browser import CHROMIUM, ChromiumSession, ConsoleErrors
from .mosquitto import MosquittoBroker, MqttAddress
from .postgres import PostgresServer
from .processes import ci_requires_services, missing, require_executable
from .samples import han_samples_path, load_han_samples
from .smtp import SmtpCatcher

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

__all__ = [
    "browser",
    "chromium_session",
    "console_errors",
    "han_samples",
    "han_samples_dir",
    "mosquitto",
    "page",
    "postgres_server",
    "postgres_url",
    "smtp_server",
    "smtp_server_session",
]


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MqttAddress]:
    """A Mosquitto broker for the session: ``host, port = mosquitto``."""
    broker = MosquittoBroker()
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (or the one in HANPORT_TEST_POSTGRES_URL)."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database: ``postgresql+psycopg://postgres@127.0.0.1:PORT/NAME``.

    For libpq / psql / plain psycopg use ``services.postgres.libpq_url(postgres_url)``.
    The database is dropped after the test (connections still open are cut).
    """
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def smtp_server_session() -> Iterator[SmtpCatcher]:
    catcher = SmtpCatcher()
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()


@pytest.fixture
def smtp_server(smtp_server_session: SmtpCatcher) -> SmtpCatcher:
    """The session's SMTP catcher, emptied for this test: ``.host``, ``.port``, ``.messages``,
    ``.clear()``, ``.wait_for(predicate, timeout)`` and ``await .wait_for_async(...)``."""
    smtp_server_session.clear()
    return smtp_server_session


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[ChromiumSession]:
    executable = require_executable(CHROMIUM, "chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright Python package is not installed (pip install -e '.[test]')")
    session = ChromiumSession.start(executable)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def browser(chromium_session: ChromiumSession) -> Iterator[Browser]:
    """Headless Debian Chromium via Playwright's sync API, launched once per session.

    Use it (and ``page``) from sync tests: serve the app under test from a thread or a
    subprocess. Async tests elsewhere in the run are unaffected (see ChromiumSession).
    """
    with chromium_session.active() as launched:
        yield launched


@pytest.fixture
def console_errors() -> ConsoleErrors:
    """Console errors and uncaught exceptions of ``page``; clear it if a test expects one."""
    return ConsoleErrors()


@pytest.fixture
def page(browser: Browser, console_errors: ConsoleErrors) -> Iterator[Page]:
    """A new page in a fresh browser context; the test fails if the page logs a console error
    or throws an uncaught exception."""
    context = browser.new_context(locale="nb-NO", timezone_id="Europe/Oslo")
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    console_errors.watch(new_page)
    try:
        yield new_page
    finally:
        context.close()
    if console_errors:
        pytest.fail("the page reported errors:\n" + "\n".join(console_errors.messages), False)


@pytest.fixture(scope="session")
def han_samples_dir() -> Path:
    """``tests/data/han-samples`` (or $HANPORT_HAN_SAMPLES_DIR); skipped when absent, except in
    CI, where it is an error."""
    directory = han_samples_path()
    if not directory.is_dir():
        reason = f"HAN samples not found at {directory} (set HANPORT_HAN_SAMPLES_DIR)"
        if ci_requires_services():
            pytest.fail(f"{reason}; CI must have them", pytrace=False)
        pytest.skip(reason)
    return directory


@pytest.fixture(scope="session")
def han_samples(han_samples_dir: Path) -> list[dict[str, Any]]:
    """All sample entries of all files, each with ``"file"`` (e.g. ``"kamstrup.json"``)."""
    return load_han_samples(han_samples_dir)
