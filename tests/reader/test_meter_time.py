"""The meter's clock is the authority: a live reader fed by the real emulator running faster
than real time, with a simulated date far from today, books and derives everything by the
meter's time (this hour, the projection, last hour, estimated hours), never by arrival time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from hanport.reader.pipeline import Hub
from services.waiting import wait_for

OSLO = ZoneInfo("Europe/Oslo")
HANPORT = [sys.executable, "-m", "hanport.cli"]


def _posix(local_iso: str) -> float:
    return datetime.fromisoformat(local_iso).replace(tzinfo=OSLO).timestamp()


def _first_lines(process: subprocess.Popen[str], count: int, what: str) -> list[str]:
    assert process.stdout is not None
    lines = []
    while len(lines) < count:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"{what} ended before it started: {process.stderr}")
        if line.strip():
            lines.append(line)
    return lines


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=15)  # waits, and closes the pipes
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=5)


@contextmanager
def _live_reader(tmp_path: Path, start: str, speed: int) -> Iterator[tuple[str, str]]:
    """`hanport emulate --speed N --start START --to tcp://…` read by `hanport read --tcp`;
    yields (API URL, meter ID)."""
    emulator = subprocess.Popen(
        [*HANPORT, "emulate", "--meter", "kamstrup", "--seed", "7", "--port", "open",
         "--start", start, "--speed", str(speed), "--to", "tcp://127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        announced = json.loads(_first_lines(emulator, 1, "emulator")[0])
        reader = subprocess.Popen(
            [*HANPORT, "read", "--tcp", announced["stream"].removeprefix("tcp://"),
             "--db", f"sqlite:///{tmp_path / 'reader.sqlite3'}", "--host", "127.0.0.1",
             "--port", "0", "--no-discovery"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            url = _first_lines(reader, 1, "reader")[0].split()[2].rstrip("/")
            yield url, str(announced["meter_id"])
        finally:
            _stop(reader)
    finally:
        _stop(emulator)


def _now_when(url: str, meter_id: str, until: float, timeout_s: float = 40) -> dict[str, Any]:
    """/api/now once the meter's own time has reached ``until`` (POSIX seconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = httpx.get(f"{url}/api/now", params={"meter_id": meter_id}, timeout=5).json()
        if now and _posix(now[0]["at"]) >= until:
            return dict(now[0])
        time.sleep(0.2)
    raise AssertionError(f"the meter's time did not reach {until} within {timeout_s} s")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, OSLO).strftime("%Y-%m-%dT%H:%M:%S")


def _get_readings(url: str, meter_id: str, start: float, end: float) -> list[dict[str, Any]]:
    rows = httpx.get(
        f"{url}/api/readings",
        params={
            "meter_id": meter_id,
            "from": _iso(start),
            "to": _iso(end),
            "fields": "active_power_import_w,active_energy_import_kwh",
        },
        timeout=10,
    ).json()
    return list(rows)


def _readings(
    url: str, meter_id: str, start: float, end: float, stored_through: float
) -> list[dict[str, Any]]:
    """The stored readings in [start, end] once the push at ``stored_through`` is stored:
    /api/now runs ahead of the database by the writer's flush, and a flush writes everything
    that came before in one transaction."""
    wait_for(
        lambda: _get_readings(url, meter_id, stored_through, stored_through + 3600),
        timeout=30,
        what=f"the reading at {_iso(stored_through)} in the database",
    )
    return _get_readings(url, meter_id, start, end)


def _integrated_kwh(rows: list[dict[str, Any]], start: float, end: float) -> float:
    """Each push's power holds until the next push (Kamstrup: every 10 s), clipped to
    [start, end): an independent reckoning of what the reader should integrate."""
    samples = [
        (_posix(r["at"]), float(r["active_power_import_w"]))
        for r in rows
        if r.get("active_power_import_w") is not None
    ]
    total = 0.0
    for (t0, p0), (t1, _) in pairwise(samples):
        lo, hi = max(t0, start), min(t1, t0 + 30, end)
        if hi > lo:
            total += p0 * (hi - lo) / 3.6e6
    return total


def test_this_hour_and_estimates_follow_the_meter_at_speed_60(tmp_path: Path) -> None:
    """At --speed 60 a minute of arrival is an hour of the meter's: this hour so far, its
    projection and the estimated (integrated) previous hour are the meter's, not 60× less."""
    # 10 minutes of the meter's before 11:00 are 10 s of ours: time for a reader that starts
    # slowly on a busy machine to see some of them (at 10:55 it missed them all under load)
    with _live_reader(tmp_path, "2025-06-03T10:50:00", 60) as (url, meter_id):
        hour = _posix("2025-06-03T11:00:00")
        now = _now_when(url, meter_id, hour + 6 * 60)  # past 11:05, when 10:00 is booked
        at = _posix(now["at"])
        assert hour + 6 * 60 <= at < hour + 3600  # the meter's day, a year and more ago
        assert abs(_posix(now["received_at"]) - time.time()) < 60  # arrival stays the reader's
        rows = _readings(url, meter_id, hour - 3600, at + 1, stored_through=at)
        expected = _integrated_kwh(rows, hour, at)
        # ~6 minutes of a household's power: far more than the ~6 s of arrival time it took
        assert expected > 0.01
        assert now["this_hour_kwh"] == pytest.approx(expected, rel=0.02, abs=1e-4)
        latest_power = float(now["active_power_import_w"])
        projection = now["this_hour_kwh"] + latest_power * (hour + 3600 - at) / 3.6e6
        assert now["this_hour_projection_kwh"] == pytest.approx(projection, rel=1e-3, abs=1e-4)
        # 10:00-11:00 has no hourly list before it (the meter started at 10:50): booked from
        # integrated power, marked estimated, and shown as last hour
        previous = _integrated_kwh(rows, hour - 3600, hour)
        assert previous > 0
        booked = httpx.get(
            f"{url}/api/hours",
            params={"meter_id": meter_id, "from": "2025-06-03", "to": "2025-06-04"},
            timeout=10,
        ).json()
        assert [(h["start"], h["estimated"]) for h in booked] == [("2025-06-03T10:00:00", True)]
        assert booked[0]["active_energy_import_kwh"] == pytest.approx(previous, rel=0.02)
        assert now["last_hour_kwh"] == pytest.approx(previous, rel=0.02)


def test_last_hour_is_the_register_difference_of_the_meters_hours(tmp_path: Path) -> None:
    """Two hourly lists of the meter (an hour of its time, 6 s of ours at --speed 600): last
    hour is exactly their difference, booked to the meter's hour."""
    with _live_reader(tmp_path, "2024-02-12T13:30:00", 600) as (url, meter_id):
        # the first hourly list the reader sees (a slow start may miss one), then the next
        first = _now_when(url, meter_id, _posix("2024-02-12T13:30:00"))
        deadline = time.monotonic() + 30
        while "meter_clock" not in first and time.monotonic() < deadline:
            time.sleep(0.1)
            first = _now_when(url, meter_id, _posix("2024-02-12T13:30:00"))
        hour = _posix(first["meter_clock"][:13] + ":00:00")
        now = _now_when(url, meter_id, hour + 3600 + 60)
        rows = _readings(url, meter_id, hour, hour + 3600 + 120, _posix(now["at"]))
        registers = {
            _posix(r["at"][:13] + ":00:00"): r["active_energy_import_kwh"]
            for r in rows
            if r.get("active_energy_import_kwh") is not None
        }
        exact = registers[hour + 3600] - registers[hour]
        assert now["last_hour_kwh"] == pytest.approx(exact, abs=1e-6)
        hours = httpx.get(
            f"{url}/api/hours",
            params={"meter_id": meter_id, "from": first["meter_clock"][:13] + ":00:00"},
            timeout=10,
        ).json()
        assert hours[0]["start"] == first["meter_clock"][:13] + ":00:00"
        assert hours[0]["estimated"] is False
        assert hours[0]["active_energy_import_kwh"] == pytest.approx(exact, abs=1e-6)


def test_untimed_pushes_are_placed_after_the_meters_latest_timed_push(tmp_path: Path) -> None:
    """Aidon's lists 1 and 2 carry no time: before the hourly list (the first with the meter
    clock) they have the arrival time; after it, its time plus the arrival time since."""
    capture = tmp_path / "aidon.bin"
    subprocess.run(
        [*HANPORT, "emulate", "--meter", "aidon", "--seed", "3", "--port", "open",
         "--start", "2025-01-07T08:59:30", "--duration", "2m", "--speed", "max",
         "--to", f"file:{capture}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    hub = Hub()
    pushes: list[Any] = []
    hub.push_sinks.append(pushes.append)
    feed = hub.feed_for(hub.add_source("test", "file"))
    arrival = 1_000_000.0
    data = capture.read_bytes()
    for offset in range(0, len(data), 64):  # a push every second or so of arrival
        feed.feed(data[offset : offset + 64], received_at=arrival)
        arrival += 0.1
    timed = [p for p in pushes if p.clock == "meter"]
    assert len(timed) == 1 and timed[0].values["meter_clock"].startswith("2025-01-07T09:00")
    anchor = timed[0]
    before = [p for p in pushes if p.received_at < anchor.received_at]
    after = [p for p in pushes if p.received_at > anchor.received_at]
    assert before and after
    # (pushes that arrive in one chunk are a millisecond apart)
    assert all(
        p.clock == "received" and p.at == pytest.approx(p.received_at, abs=0.01) for p in before
    )
    for p in after:
        assert p.clock == "inferred"
        elapsed = p.received_at - anchor.received_at
        assert p.at == pytest.approx(anchor.at + elapsed, abs=0.01)
    # pushes of one meter keep distinct, increasing times (the table is unique on them)
    times = [p.at for p in pushes if p.clock != "received"]
    assert times == sorted(times) and len(set(times)) == len(times)
