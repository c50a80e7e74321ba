"""The issue-7 path end to end: `hanport demo`, a customer orders the HAN port open in the
browser, the reader shows live data within 15 s, the confirmation is in the mailbox, closing
the port stops the data, Ctrl-C stops everything, and a restart continues where it stopped.

Screenshots of every step go to build/screenshots/demo-*.png (README material).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanport.portal.seed import DEMO_METERS
from services.browser import ConsoleErrors, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HOUSEHOLD = DEMO_METERS[0]  # Storgata 1: the customer's 3-phase household meter
CUSTOMER = HOUSEHOLD.customer_email
METER_ID = HOUSEHOLD.meter_id
METERING_POINT = HOUSEHOLD.metering_point_id
LIVE_WITHIN_S = 15.0


class RunningDemo:
    """`hanport demo` as a user runs it, on free ports, in a folder of the test's own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.output: list[str] = []
        self._running = threading.Event()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hanport.cli",
                "demo",
                "--dir",
                str(directory),
                "--port-base",
                "0",
                "--speed",
                "60",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # Ctrl-C is simulated below, for the demo alone
        )
        threading.Thread(target=self._read_output, daemon=True).start()

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:  # closed when the demo's output ends
            for line in self.process.stdout:
                self.output.append(line.rstrip("\n"))
                if "is running" in line:
                    self._running.set()

    def wait_until_running(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._running.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the demo did not start:\n" + self.log(), pytrace=False)
        state = json.loads((self.directory / "demo.json").read_text())
        self.urls: dict[str, str] = state["urls"]

    def url(self, part: str, path: str = "") -> str:
        return self.urls[part].rstrip("/") + path

    def log(self) -> str:
        logs = "\n".join(self.output[-60:])
        for part in sorted((self.directory / "logs").glob("*.log")):
            tail = "\n".join(part.read_text(errors="replace").splitlines()[-30:])
            logs += f"\n----- {part.name}\n{tail}"
        return logs

    def interrupt(self, timeout: float = 45.0) -> int:
        """Ctrl-C, as in a terminal; the exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail("the demo did not stop within 45 s of Ctrl-C:\n" + self.log())
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "demo-data"
    yield directory
    # After a failure the demo is killed outright; its parts follow it (parent-death signal)
    # within moments. Anything still there after that is a leak.
    try:
        _eventually(
            "the demo's processes end", lambda: not _processes_mentioning(str(directory)), 15
        )
    finally:
        for pid in _processes_mentioning(str(directory)):
            os.kill(pid, signal.SIGKILL)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(proc.name))
    return found


def _eventually(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def _reading_time(demo: RunningDemo) -> str | None:
    rows = httpx.get(demo.url("reader", "/api/now"), params={"meter_id": METER_ID}).json()
    mine = [row for row in rows if row.get("meter_id") == METER_ID]
    return str(mine[0]["received_at"]) if mine else None


def _sign_in(page: Any, demo: RunningDemo) -> None:
    page.goto(demo.url("portal", "/"))
    page.fill("#email", CUSTOMER)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_selector("#code")

    def code_mail() -> str | None:
        for mail in httpx.get(demo.url("mailbox", "/api/messages"), params={"to": CUSTOMER}).json():
            if "innlogging" not in mail["subject"]:
                continue
            found = re.search(r"\b(\d{6})\b", mail["text"])
            if found:
                return found.group(1)
        return None

    code = _eventually("sign-in code in the mailbox", code_mail, 30)
    mailbox = page.context.new_page()
    mailbox.goto(demo.url("mailbox", "/"))
    screenshot(mailbox, "demo-1-mailbox-sign-in-code")
    mailbox.close()
    page.fill("#code", code)
    page.click("form[action='/signin/code'] button[type=submit]")
    page.wait_for_url(re.compile(r"/points$"))
    screenshot(page, "demo-2-my-metering-points")


def _wait_for_order_done(page: Any) -> None:
    page.wait_for_url(re.compile(r"/orders/\d+"))
    page.wait_for_selector("#order-state[data-state=completed]", timeout=60_000)


def test_order_open_see_live_data_close_stop_and_restart(
    page: Any, console_errors: ConsoleErrors, demo_dir: Path
) -> None:
    demo = RunningDemo(demo_dir)
    try:
        demo.wait_until_running()
        banner = "\n".join(demo.output)
        assert CUSTOMER in banner and demo.url("portal") in banner
        seeded = {m.meter_id: m for m in DEMO_METERS if m.han_capable}
        emulated = {m["meter_id"]: m for m in httpx.get(demo.url("control", "/api/meters")).json()}
        assert set(emulated) == set(seeded), (
            "the emulator runs the port service's meters, no others"
        )
        for meter_id, meter in emulated.items():
            assert meter["port"] == "closed", f"{meter_id}: closed until a customer orders it"
            assert meter["metering_point_id"] == seeded[meter_id].metering_point_id
            assert meter["meter_type"] == seeded[meter_id].model, "the register's meter type"
            assert meter_id in banner, "every meter is listed with its customer"
        assert httpx.get(demo.url("reader", "/api/meters")).json() == [], "no data before an order"

        _sign_in(page, demo)
        page.goto(demo.url("portal", f"/points/{METERING_POINT}"))
        page.check("input[name=declaration][value=inside_home]")
        page.check("input[name=module_option][value=have]")
        page.check("input[name=terms_accepted]")
        screenshot(page, "demo-3-order-form")
        page.click("#order-form button[type=submit]")
        ordered_at = time.monotonic()
        page.wait_for_url(re.compile(r"/orders/\d+"))
        open_order = page.url

        _eventually(
            "the reader knows the meter",
            lambda: (
                METER_ID
                in {m["meter_id"] for m in httpx.get(demo.url("reader", "/api/meters")).json()}
            ),
            LIVE_WITHIN_S,
        )
        page.goto(demo.url("reader", f"/?meter={METER_ID}"))
        page.wait_for_function(
            "([id]) => document.getElementById('meter-id')?.textContent.includes(id)"
            " && !/^[–-]?$/.test(document.getElementById('import-power')?.textContent.trim())",
            arg=[METER_ID],
            timeout=max(1.0, LIVE_WITHIN_S - (time.monotonic() - ordered_at)) * 1000,
        )
        live_after = time.monotonic() - ordered_at
        assert live_after < LIVE_WITHIN_S, f"live data {live_after:.1f} s after the order"
        now = httpx.get(demo.url("reader", "/api/now"), params={"meter_id": METER_ID}).json()
        types = {row.get("meter_type") for row in now if row.get("meter_id") == METER_ID}
        assert types == {HOUSEHOLD.model}, "the reader sees the register's meter type"
        screenshot(page, "demo-4-dashboard-live")

        page.goto(open_order)
        _wait_for_order_done(page)
        screenshot(page, "demo-5-order-completed")
        confirmation = _eventually(
            "confirmation e-mail",
            lambda: [
                mail
                for mail in httpx.get(
                    demo.url("mailbox", "/api/messages"), params={"to": CUSTOMER}
                ).json()
                if "innlogging" not in mail["subject"]
            ],
            30,
        )
        page.goto(demo.url("mailbox", f"/messages/{confirmation[0]['id']}"))
        screenshot(page, "demo-6-mailbox-confirmation")

        page.goto(demo.url("portal", f"/points/{METERING_POINT}"))
        page.click("#close-now")
        page.click("#confirm-yes")  # closing asks first
        _wait_for_order_done(page)
        screenshot(page, "demo-7-port-closed")
        port = httpx.get(demo.url("control", f"/api/meters/{METER_ID}/port")).json()
        assert port["port"] == "closed"
        stopped_at = _reading_time(demo)
        time.sleep(3)  # at speed 60 an open Kamstrup port pushes 6 lists a second
        assert _reading_time(demo) == stopped_at, "data still arrives after the port closed"

        assert demo.interrupt() == 0, demo.log()
    finally:
        demo.stop()
    assert not _processes_mentioning(str(demo_dir)), "a part of the demo outlived Ctrl-C"

    again = RunningDemo(demo_dir)
    try:
        again.wait_until_running()
        subjects = [m["subject"] for m in httpx.get(again.url("mailbox", "/api/messages")).json()]
        assert len(subjects) >= 3, "the mail of the first run is still there"
        port = httpx.get(again.url("control", f"/api/meters/{METER_ID}/port")).json()
        assert port["port"] == "closed", "the port stays as the customer left it"
        meters = httpx.get(again.url("reader", "/api/meters")).json()
        assert METER_ID in {m["meter_id"] for m in meters}, "the reader kept its readings"
        assert again.interrupt() == 0, again.log()
    finally:
        again.stop()
