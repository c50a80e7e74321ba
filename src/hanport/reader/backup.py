"""Portable backup and restore of the reader database (SQLite ⇄ PostgreSQL).

Format: gzip'ed JSON Lines; the first line names the format and schema revision, then one
``{"table": …, "row": {…}}`` per row (bytes as hex). Restoring goes into an empty database
only, so a restore never mixes with or overwrites data.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, LargeBinary, func, select

from hanport.reader.storage import partitions
from hanport.reader.storage.schema import days, hours, meters, raw_frames, readings, registers

__all__ = ["BackupError", "BackupSchedule", "backup", "restore"]

FORMAT = "hanport-reader-backup"
VERSION = 1
_TABLES = (meters, registers, hours, days, readings, raw_frames)
_BATCH = 5000


class BackupError(ValueError):
    """A backup that cannot be written or restored (message in bokmål and English)."""


def backup(
    engine: Engine, path: Path, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Write every table to ``path``; one read transaction, so the copy is consistent."""
    counts: dict[str, int] = {}
    tmp = path.with_name(path.name + ".partial")
    with gzip.open(tmp, "wt", encoding="utf-8") as out, engine.connect() as conn:
        out.write(json.dumps({"format": FORMAT, "version": VERSION, "schema": "0001"}) + "\n")
        with conn.begin():
            for table in _TABLES:
                binary = [c.name for c in table.columns if isinstance(c.type, LargeBinary)]
                n = 0
                result = conn.execution_options(yield_per=_BATCH).execute(select(table))
                for row in result.mappings():
                    data = dict(row)
                    for name in binary:
                        if data[name] is not None:
                            data[name] = bytes(data[name]).hex()
                    out.write(json.dumps({"table": table.name, "row": data}) + "\n")
                    n += 1
                counts[table.name] = n
                if progress:
                    progress(table.name, n)
    tmp.replace(path)  # a half-written backup never carries the final name
    return counts


def restore(engine: Engine, path: Path) -> dict[str, int]:
    """Load a backup into an empty (freshly migrated) database in one transaction."""
    by_name = {t.name: t for t in _TABLES}
    try:
        stream = gzip.open(path, "rt", encoding="utf-8")  # noqa: SIM115 - closed below
        header = json.loads(stream.readline())
    except (OSError, ValueError) as exc:
        raise BackupError(
            f"ikke en hanport-sikkerhetskopi / not a hanport backup: {path} ({exc})"
        ) from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise BackupError(f"ukjent format / unknown backup format in {path}: {header}")
    counts = dict.fromkeys(by_name, 0)
    with stream, engine.begin() as conn:
        for table in _TABLES:
            if conn.execute(select(func.count()).select_from(table)).scalar():
                raise BackupError(
                    f"databasen er ikke tom / the database is not empty (table {table.name}); "
                    "restore into a new database"
                )
        batches: dict[str, list[dict[str, Any]]] = {name: [] for name in by_name}
        binary = {
            t.name: [c.name for c in t.columns if isinstance(c.type, LargeBinary)] for t in _TABLES
        }

        partitioned = partitions.is_partitioned(conn)
        months: set[tuple[int, int]] = set()

        def flush(name: str) -> None:
            if batches[name]:
                if partitioned and name == "readings":  # PostgreSQL: a partition per month
                    numbers = {int(row["at"]) // 86400 for row in batches[name]}
                    partitions.ensure(
                        conn, {partitions.month_of(n * 86400) for n in numbers}, months
                    )
                conn.execute(by_name[name].insert(), batches[name])
                counts[name] += len(batches[name])
                batches[name] = []

        for line_no, line in enumerate(stream, start=2):
            try:
                item = json.loads(line)
                name, row = item["table"], item["row"]
                table = by_name[name]
            except (ValueError, KeyError):
                raise BackupError(f"{path}:{line_no}: ødelagt linje / corrupt line") from None
            for column in binary[name]:
                if row.get(column) is not None:
                    row[column] = bytes.fromhex(row[column])
            batches[table.name].append(row)
            if len(batches[name]) >= _BATCH:
                flush(name)
        for name in by_name:
            flush(name)
        if conn.dialect.name == "postgresql":
            # rows came with their ids: move the sequences past them
            for table in (readings, raw_frames):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                )
    return counts


#: scheduled backups are named so that their names sort by time
SCHEDULED_PREFIX = "hanport-reader-"
SCHEDULED_SUFFIX = ".jsonl.gz"


@dataclass(slots=True)
class BackupSchedule:
    """Backups to ``directory`` first at local ``at`` ("HH:MM"), then every ``interval_s``,
    keeping the newest ``keep``. ``run_due`` is called by the service's loop; a failing backup
    is recorded in ``status`` (shown by /api/health) and retried at the next turn, never raised:
    reading goes on whatever happens to the backup disk."""

    engine: Engine
    directory: Path
    at: str = "03:00"
    interval_s: float = 86400.0
    keep: int = 7
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Oslo"))
    clock: Callable[[], float] = time.time
    next_at: float | None = None
    last: dict[str, Any] | None = None

    def first_due(self, now: float) -> float:
        """The next local ``at`` after ``now``."""
        hour, minute = (int(part) for part in self.at.split(":"))
        local = dt.datetime.fromtimestamp(now, self.tz)
        due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due.timestamp() <= now:
            due = (local + dt.timedelta(days=1)).replace(
                hour=hour, minute=minute, second=0, microsecond=0
            )
        return due.timestamp()

    def seconds_until_due(self) -> float:
        now = self.clock()
        if self.next_at is None:
            self.next_at = self.first_due(now)
        return max(0.0, self.next_at - now)

    def run_due(self) -> dict[str, Any] | None:
        """Take a backup if one is due; returns its status then, else None."""
        now = self.clock()
        if self.next_at is None:
            self.next_at = self.first_due(now)
        if now < self.next_at:
            return None
        while self.next_at <= now:  # after a long pause, one backup, not one per missed turn
            self.next_at += self.interval_s
        return self.take(now)

    def take(self, now: float) -> dict[str, Any]:
        stamp = dt.datetime.fromtimestamp(now, self.tz).strftime("%Y%m%d-%H%M%S")
        path = self.directory / f"{SCHEDULED_PREFIX}{stamp}{SCHEDULED_SUFFIX}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            backup(self.engine, path)
            removed = self._rotate()
            self.last = {
                "ok": True,
                "at": dt.datetime.fromtimestamp(now, self.tz).isoformat(),
                "file": str(path),
                "size_bytes": path.stat().st_size,
                "removed": removed,
            }
        except Exception as exc:  # a full or missing disk must not stop reading
            self.last = {
                "ok": False,
                "at": dt.datetime.fromtimestamp(now, self.tz).isoformat(),
                "file": str(path),
                "error": f"{type(exc).__name__}: {exc}",
            }
        return self.last

    def _rotate(self) -> list[str]:
        """Delete scheduled backups beyond the newest ``keep`` (other files are left alone)."""
        found = sorted(self.directory.glob(f"{SCHEDULED_PREFIX}*{SCHEDULED_SUFFIX}"))
        old = found[: max(0, len(found) - self.keep)]
        for path in old:
            path.unlink()
        return [p.name for p in old]

    def status(self) -> dict[str, Any]:
        """The /api/health ``backup`` object."""
        next_at = None
        if self.next_at is not None:
            next_at = dt.datetime.fromtimestamp(self.next_at, self.tz).isoformat()
        return {
            "enabled": True,
            "directory": str(self.directory),
            "keep": self.keep,
            "next_at": next_at,
            "last": self.last,
        }
