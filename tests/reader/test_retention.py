"""Retention thins raw frames and readings by age, capped per run; rollups are never touched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reader_synthetic import pushes
from sqlalchemy import func, select

from hanport.reader.energy import LOCAL_TZ
from hanport.reader.model import RejectedFrame
from hanport.reader.storage.database import open_db
from hanport.reader.storage.retention import RetentionPolicy, thin
from hanport.reader.storage.schema import days, hours, raw_frames, readings, registers
from hanport.reader.storage.writer import Writer

START = int(dt.datetime(2026, 5, 4, tzinfo=LOCAL_TZ).timestamp())


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar() or 0


def test_thinning_keeps_rollups(tmp_path: Path) -> None:
    engine = open_db(str(tmp_path / "r.sqlite3"))
    writer = Writer(engine)
    for push in pushes(START, 3):
        push.frame = b"\x7e\x00\x7e"
        writer.add(push)
    writer.add_rejected(RejectedFrame(START + 10, "test", "bad CRC", "crc", b"\x7e\x01\x7e"))
    writer.flush(final=True)
    before = {t.name: _count(engine, t) for t in (readings, raw_frames, hours, days, registers)}
    assert before["raw_frames"] == before["readings"] + 1 and before["hours"] == 3

    policy = RetentionPolicy(raw_frames_days=1, readings_days=2, max_rows=500)
    # one day later: raw frames (received at replay time = push time) are due, readings not
    first = thin(engine, policy, now=START + 3 * 3600 + 86400 + 60)
    assert first == {"raw_frames": 500, "readings": 0}  # capped per run
    while thin(engine, policy, now=START + 3 * 3600 + 86400 + 60)["raw_frames"]:
        pass
    assert _count(engine, raw_frames) == 0
    # three days later the readings go too, in capped runs
    while thin(engine, policy, now=START + 3 * 86400)["readings"]:
        pass
    assert _count(engine, readings) == 0
    for table in (hours, days, registers):
        assert _count(engine, table) == before[table.name]
