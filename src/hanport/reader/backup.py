"""Portable backup and restore of the reader database (SQLite ⇄ PostgreSQL).

Format: gzip'ed JSON Lines; the first line names the format and schema revision, then one
``{"table": …, "row": {…}}`` per row (bytes as hex). Restoring goes into an empty database
only, so a restore never mixes with or overwrites data.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, LargeBinary, func, select

from hanport.reader.storage.schema import days, hours, meters, raw_frames, readings, registers

__all__ = ["BackupError", "backup", "restore"]

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

        def flush(name: str) -> None:
            if batches[name]:
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
