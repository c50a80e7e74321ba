"""The demo as a supervisor: a part that dies takes the demo down with a useful message,
nothing is left running, and the simulated clock is kept for the next start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _demo(directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "demo", "--dir", str(directory), "--port-base", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )


def _wait_running(process: subprocess.Popen[str], timeout: float = 120) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        lines.append(line)
        if "is running" in line:
            return lines
        assert time.monotonic() < deadline, "".join(lines)
    pytest.fail("the demo exited before it was running:\n" + "".join(lines))


def _pids_of(directory: Path, word: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if any(str(directory) in arg for arg in argv) and word in argv:
            pids.append(int(proc.name))
    return pids


def _all_gone(directory: Path, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_pids_of(directory, word) for word in ("emulate", "portal", "read", "demo")):
            return True
        time.sleep(0.2)
    return False


def test_sigterm_stops_cleanly_and_keeps_the_clock(tmp_path: Path) -> None:
    directory = tmp_path / "demo-data"
    demo = _demo(directory)
    try:
        _wait_running(demo)
        clock_at_start = datetime.fromisoformat(
            json.loads((directory / "demo.json").read_text())["simulated_clock"]
        )
        time.sleep(3)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(45) == 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        if demo.stdout is not None:
            demo.stdout.close()
    assert _all_gone(directory)
    saved = json.loads((directory / "demo.json").read_text())
    advanced = (datetime.fromisoformat(saved["simulated_clock"]) - clock_at_start).total_seconds()
    assert advanced >= 3 * 60, "at speed 60, three seconds are three simulated minutes"
    assert (directory / "reader.sqlite").exists()
    assert (directory / "portal.sqlite").exists()

    # Where the meters stopped (their checkpoints), and demo.json is not past it.
    reached = max(
        datetime.fromisoformat(json.loads(path.read_text())["pushed_through"])
        for path in (directory / "emulator").glob("meter-*.json")
    )
    assert datetime.fromisoformat(saved["simulated_clock"]) <= reached + timedelta(seconds=20)

    # A restart continues the meters where they stopped: no gap in their readings.
    demo = _demo(directory)
    try:
        _wait_running(demo)
        restarted_at = datetime.fromisoformat(
            json.loads((directory / "demo.json").read_text())["simulated_clock"]
        )
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(45) == 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        if demo.stdout is not None:
            demo.stdout.close()
    assert _all_gone(directory)
    # a meter pushes at least every 10 s: the first push after the restart follows the last
    assert reached <= restarted_at + timedelta(seconds=10)
    assert restarted_at - reached <= timedelta(seconds=10), "a gap after the restart"


def test_a_part_that_dies_stops_the_demo_and_says_which(tmp_path: Path) -> None:
    directory = tmp_path / "demo-data"
    demo = _demo(directory)
    try:
        _wait_running(demo)
        readers = _pids_of(directory, "read")
        assert len(readers) == 1
        os.kill(readers[0], signal.SIGKILL)
        output, _ = demo.communicate(timeout=45)
        assert demo.returncode == 1
        assert "reader: stopped on its own" in output
        assert str(directory / "logs" / "reader.log") in output
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        if demo.stdout is not None:
            demo.stdout.close()
    assert _all_gone(directory)
