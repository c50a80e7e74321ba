"""Debian's Chromium driven by Playwright (never `playwright install`: no downloads)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright
    from playwright.sync_api._context_manager import PlaywrightContextManager

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "SCREENSHOT_DIR",
    "ChromiumSession",
    "ConsoleErrors",
    "launch_chromium",
    "screenshot",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = REPO_ROOT / "build" / "screenshots"


def launch_chromium(playwright: Playwright, executable: str = CHROMIUM) -> Browser:
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


@dataclass
class ChromiumSession:
    """One Playwright driver and one Chromium for the whole test session.

    Playwright's sync API keeps its event loop suspended mid-run between calls, so the thread
    looks as if a loop were running, and every later ``async def`` test would fail with "Cannot
    run the event loop while another loop is running". The session therefore marks its loop as
    running only while a browser test is using it (``active()``) and clears the mark otherwise.
    """

    manager: PlaywrightContextManager
    playwright: Playwright
    browser: Browser
    loop: asyncio.AbstractEventLoop

    @classmethod
    def start(cls, executable: str = CHROMIUM) -> ChromiumSession:
        from playwright.sync_api import sync_playwright

        manager = sync_playwright()
        playwright = manager.start()
        loop = asyncio.events._get_running_loop()
        assert loop is not None, "Playwright's sync API did not leave its loop marked as running"
        session = cls(manager, playwright, launch_chromium(playwright, executable), loop)
        session._park()
        return session

    @contextmanager
    def active(self) -> Iterator[Browser]:
        running = asyncio.events._get_running_loop()
        if running is not None and running is not self.loop:
            raise RuntimeError(
                "the Playwright sync fixtures (browser, page) need a sync test; "
                "this test runs inside an asyncio event loop"
            )
        asyncio.events._set_running_loop(self.loop)
        try:
            yield self.browser
        finally:
            self._park()

    def stop(self) -> None:
        asyncio.events._set_running_loop(self.loop)
        try:
            self.browser.close()
        finally:
            self.manager.__exit__(None, None, None)
            self._park()

    def _park(self) -> None:
        if asyncio.events._get_running_loop() is self.loop:
            asyncio.events._set_running_loop(None)


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save ``build/screenshots/<name>.png`` and return its path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "screenshot"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@dataclass
class ConsoleErrors:
    """Console errors and uncaught exceptions of a page.

    The ``page`` fixture fails the test when this is not empty at teardown; a test that expects
    an error removes it (``console_errors.clear()`` or ``console_errors.messages.remove(...)``).
    """

    messages: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    def clear(self) -> None:
        self.messages.clear()

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.messages.append(f"console error: {message.text} ({where})")

    def _on_page_error(self, error: Exception) -> None:
        self.messages.append(f"uncaught exception: {error}")

    def __bool__(self) -> bool:
        return bool(self.messages)
