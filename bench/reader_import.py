"""Backfill speed and memory: a year of 10-second Kamstrup frames into SQLite.

    .venv/bin/python bench/reader_import.py [--duration 365d] [--capture PATH] [--db URL]

Makes the capture with the emulator (`hanport emulate --speed max --to file:`) unless given,
then runs `hanport decode` of it (the protocol core alone, output to /dev/null) and
`hanport import` (decode + derive + store) as a user would, each under `/usr/bin/time -v`,
and prints for both the wall-clock time, the CPU time and the maximum resident set size, then
frames/s and the database size per year (SQLite file + WAL). Targets: under 3 minutes and
under 150 MB resident for a year on this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import days, hours, readings


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float  # user + system, all threads
    max_rss_mb: float


def timed(command: list[str]) -> Timed:
    """Run ``command`` under ``/usr/bin/time -v`` (its output discarded) and read the figures."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *command], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")

    def field(name: str) -> str:
        match = re.search(rf"^\s*{re.escape(name)}: (.+)$", result.stderr, re.MULTILINE)
        if match is None:
            raise SystemExit(f"/usr/bin/time printed no {name!r}:\n{result.stderr}")
        return match.group(1)

    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = int(field("Maximum resident set size (kbytes)")) / 1024
    return Timed(wall, cpu, rss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="365d")
    parser.add_argument("--capture", type=Path, help="reuse this capture (made when missing)")
    parser.add_argument("--db", help="database URL (default: SQLite in --workdir)")
    parser.add_argument("--workdir", type=Path, help="where the SQLite file goes (default: temp)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hanport-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    capture = args.capture or workdir / "capture.bin"
    if not capture.exists():
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hanport.cli", "emulate", "--start", "2025-01-01T00:00",
             "--speed", "max", "--duration", args.duration, "--to", f"file:{capture}"],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"capture: {capture} made in {time.perf_counter() - started:.1f} s")
    db_path = workdir / "reader.sqlite3"
    if db_path.exists() and not args.db:
        raise SystemExit(f"{db_path} exists: remove it or choose another --workdir")
    url = args.db or f"sqlite:///{db_path}"
    decode = timed([sys.executable, "-m", "hanport.cli", "decode", str(capture)])
    imported = timed([sys.executable, "-m", "hanport.cli", "import", str(capture), "--db", url])
    elapsed = imported.wall
    engine = open_db(url)
    with engine.connect() as conn:
        n_readings = conn.execute(select(func.count()).select_from(readings)).scalar() or 0
        n_hours = conn.execute(select(func.count()).select_from(hours)).scalar() or 0
        n_days = conn.execute(select(func.count()).select_from(days)).scalar() or 0
    engine.dispose()
    years = n_hours / 8760 if n_hours else 0
    print(f"capture size:     {capture.stat().st_size / 1e6:8.1f} MB")
    print("                     wall s    CPU s   max RSS   (/usr/bin/time -v, same run)")
    for label, run in (("hanport decode", decode), ("hanport import", imported)):
        print(f"{label + ':':18s} {run.wall:8.1f} {run.cpu:8.1f} {run.max_rss_mb:6.0f} MB")
    print("targets: import < 180 s wall, < 150 MB resident")
    print(f"readings:         {n_readings:8d}   → {n_readings / elapsed:,.0f} frames/s end to end")
    print(f"hours / days:     {n_hours:8d} / {n_days}")
    if not args.db:
        size = sum(p.stat().st_size for p in workdir.glob("reader.sqlite3*"))
        print(f"database size:    {size / 1e6:8.1f} MB   ({size / 1e6 / max(years, 1e-9):.0f} MB "
              "per year of 10 s readings, raw frames not stored)")  # fmt: skip
    print(f"database: {url}  (bench/reader_api.py --db {url}; delete when done)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
