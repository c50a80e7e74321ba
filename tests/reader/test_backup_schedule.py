"""Scheduled backups: due at the configured local time, then every interval; the newest N
kept; a failure is recorded for /api/health and never raised (reading goes on)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reader_synthetic import pushes
from sqlalchemy import Engine

from hanport.reader.backup import BackupSchedule, restore
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.settings import SettingsError, load_settings
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.web import ReaderContext, create_app

START = int(dt.datetime(2026, 5, 4, tzinfo=LOCAL_TZ).timestamp())


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_db(str(tmp_path / "reader.sqlite3"))
    writer = Writer(engine)
    for push in pushes(START, 2):
        writer.add(push)
    writer.flush(final=True)
    yield engine
    engine.dispose()


def test_due_at_the_time_then_every_interval_keeping_n(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(START + 3600)  # 01:00 local
    schedule = BackupSchedule(engine, tmp_path / "backups", at="03:00", keep=2, clock=clock)
    assert schedule.run_due() is None
    assert schedule.seconds_until_due() == 2 * 3600
    taken = []
    for day in range(4):
        clock.now = START + day * 86400 + 3 * 3600 + 1
        result = schedule.run_due()
        assert result is not None and result["ok"], result
        assert result["size_bytes"] > 0
        taken.append(Path(result["file"]).name)
        assert schedule.run_due() is None  # not again before the next turn
    kept = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert kept == taken[-2:]  # rotation: the two newest
    assert taken[0] == "hanport-reader-20260504-030001.jsonl.gz"
    # the newest restores into an empty database with every row
    fresh = open_db(str(tmp_path / "restored.sqlite3"))
    counts = restore(fresh, tmp_path / "backups" / taken[-1])
    assert counts["readings"] > 0 and counts["hours"] == 2
    fresh.dispose()


def test_after_a_long_pause_one_backup_not_one_per_missed_turn(
    engine: Engine, tmp_path: Path
) -> None:
    clock = Clock(START)
    schedule = BackupSchedule(engine, tmp_path / "b", at="03:00", clock=clock)
    schedule.seconds_until_due()
    clock.now = START + 5 * 86400 + 4 * 3600  # asleep for five days
    assert schedule.run_due() is not None
    assert schedule.run_due() is None
    assert len(list((tmp_path / "b").iterdir())) == 1
    assert schedule.status()["next_at"] == "2026-05-10T03:00:00+02:00"


def test_a_failure_is_recorded_and_shown_in_health(engine: Engine, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    clock = Clock(START + 3 * 3600)
    schedule = BackupSchedule(engine, blocker / "backups", at="03:00", clock=clock)
    schedule.next_at = clock.now
    result = schedule.run_due()
    assert result is not None and result["ok"] is False and "Error" in result["error"]
    ctx = ReaderContext(engine=engine, clock=clock, backup_status=schedule.status)
    health = TestClient(create_app(ctx)).get("/api/health").json()
    assert health["backup"]["last"]["ok"] is False
    assert any(issue["code"] == "backup_failed" for issue in health["issues"])
    # the disk comes back: the next turn succeeds
    blocker.unlink()
    clock.now += 86400
    recovered = schedule.run_due()
    assert recovered is not None and recovered["ok"] is True


def test_health_without_backups(engine: Engine) -> None:
    health = TestClient(create_app(ReaderContext(engine=engine))).get("/api/health").json()
    assert health["backup"] == {"enabled": False}


@pytest.mark.parametrize("bad", ["3:00", "24:00", "03:60", "noon"])
def test_bad_backup_time_is_a_clear_error(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "reader.toml"
    path.write_text(f'[backup]\ndir = "x"\ntime = "{bad}"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"backup\.time"):
        load_settings(config=str(path), environ={})
