"""Serial through the emulator's pseudo-terminal: detection, then unplug (the pty closes) and
replug (a new pty behind the same device link, as udev's /dev/serial/by-id does)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hanport.reader.pipeline import Hub
from hanport.reader.sources import SerialSettings, parse_serial_settings, run_serial

pytestmark = pytest.mark.slow


def _start_emulator(start: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "emulate", "--to", "pty", "--speed", "60",
         "--start", start, "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, json.loads(line)["stream"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=10)  # waits, and closes the pipes
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)


async def _until(predicate: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_serial_pty_unplug_and_replug(tmp_path: Path) -> None:
    link = tmp_path / "ttyHAN"
    emulator, pts = _start_emulator("2026-01-08T12:00")
    os.symlink(pts, link)
    hub = Hub()
    pushes: list[Any] = []
    hub.push_sinks.append(pushes.append)
    found: list[str] = []
    task = asyncio.create_task(run_serial(hub, str(link), None, detect_seconds=5, log=found.append))
    try:
        await _until(lambda: len(pushes) >= 3, 30)
        assert found and "found" in found[0]
        status = hub.sources[0]
        assert status.state == "connected"

        _stop(emulator)  # unplug
        link.unlink()
        await _until(lambda: status.state == "retrying", 15)
        before = len(pushes)

        emulator, pts = _start_emulator("2026-01-08T13:00")  # replug
        os.symlink(pts, link)
        await _until(lambda: len(pushes) >= before + 3, 45)
        assert status.state == "connected"
        assert pushes[-1].meter_id == pushes[0].meter_id
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        _stop(emulator)


def test_serial_settings_parse() -> None:
    assert parse_serial_settings("auto") is None
    assert parse_serial_settings("kamstrup") == SerialSettings(2400, "N")
    assert parse_serial_settings("aidon") == SerialSettings(2400, "E")
    assert parse_serial_settings("115200-8N1") == SerialSettings(115200, "N")
    with pytest.raises(ValueError, match="unknown serial settings"):
        parse_serial_settings("fast")


def test_documented_command_reads_serial_and_serves(tmp_path: Path) -> None:
    """`hanport read --serial DEVICE` detects the settings, says what it found, prints the URL,
    and the API shows the meter."""
    import re
    import time

    import httpx

    emulator, pts = _start_emulator("2026-01-08T18:00")
    reader = subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "read", "--serial", pts, "--db",
         str(tmp_path / "reader.sqlite3"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert reader.stdout is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", reader.stdout.readline())
        assert match, "no URL printed"
        assert "found 2400 8N1" in reader.stdout.readline()  # a pty refuses parity
        deadline = time.monotonic() + 30
        meters: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not meters:
            meters = httpx.get(f"{match.group(1)}/api/now", timeout=5).json()
            time.sleep(0.3)
        assert meters and meters[0]["manufacturer"] == "Kamstrup"
    finally:
        reader.terminate()
        reader.communicate(timeout=20)
        _stop(emulator)
    assert reader.returncode == 0
