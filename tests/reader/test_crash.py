"""SIGKILL during a replay: the database opens cleanly and at most the last second is lost.
SIGTERM: everything received is flushed and the process exits 0."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reader_captures import emulate_capture, frames_of
from sqlalchemy import func, select

from hanport.reader.energy import parse_local
from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import hours, readings, registers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def day_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return emulate_capture(tmp_path_factory.mktemp("c") / "day.bin", "2026-01-07T00:00", "1d")


def _replay(capture: Path, db: Path) -> subprocess.Popen[bytes]:
    # 600 × recorded pace: about 60 pushes a second
    return subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "read", "--file", str(capture), "--speed", "600",
         "--db", str(db), "--no-http"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_for_rows(db: Path, minimum: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    if conn.execute("SELECT count(*) FROM readings").fetchone()[0] >= minimum:
                        return
            except sqlite3.OperationalError:
                pass  # the schema is being created
        time.sleep(0.2)
    raise AssertionError(f"no {minimum} readings in {db} after {timeout} s")


def _stored_prefix(capture: Path, db: Path) -> tuple[int, float, int]:
    """(readings stored, latest received_at, frames of the capture up to the latest stored)."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    engine = open_db(str(db))  # migrations and WAL recovery run cleanly
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(readings)).scalar() or 0
        latest_received = conn.execute(select(func.max(readings.c.received_at))).scalar()
        latest_at = conn.execute(select(func.max(readings.c.at))).scalar()
        # every booked exact hour agrees with the stored registers: nothing half-written
        regs = dict(
            conn.execute(select(registers.c.at, registers.c.active_energy_import_kwh)).all()
        )
        for start, kwh, estimated in conn.execute(
            select(hours.c.start, hours.c.active_energy_import_kwh, hours.c.estimated)
        ):
            if not estimated:
                assert kwh == pytest.approx(regs[start + 3600] - regs[start], abs=1e-6)
    engine.dispose()
    frames = frames_of(capture.read_bytes())
    times = [parse_local(str(f.reading.values["notification_time"])) for f in frames]
    expected = sum(1 for t in times if t <= latest_at)
    return count, float(latest_received), expected


def test_sigkill_loses_at_most_one_second(day_capture: Path, tmp_path: Path) -> None:
    db = tmp_path / "reader.sqlite3"
    proc = _replay(day_capture, db)
    try:
        _wait_for_rows(db, 120)
        time.sleep(1.3)
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.communicate()  # closes the pipe
    count, latest_received, expected = _stored_prefix(day_capture, db)
    assert count == expected  # a gap-free prefix of the capture
    assert killed_at - latest_received <= 1.0, killed_at - latest_received


def test_sigterm_flushes_everything(day_capture: Path, tmp_path: Path) -> None:
    db = tmp_path / "reader.sqlite3"
    proc = _replay(day_capture, db)
    try:
        _wait_for_rows(db, 60)
        stopped_at = time.time()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.kill()
        proc.communicate()  # closes the pipe
    count, latest_received, expected = _stored_prefix(day_capture, db)
    assert count == expected
    assert stopped_at - latest_received <= 0.25
