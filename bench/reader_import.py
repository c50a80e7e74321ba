"""Backfill speed: a year of 10-second Kamstrup frames into SQLite (decode + derive + store).

    .venv/bin/python bench/reader_import.py [--duration 365d] [--capture PATH] [--db URL]

Makes the capture with the emulator (`hanport emulate --speed max --to file:`) unless given,
then runs `hanport import` as a user would and prints frames/s, the time, and the database size
per year (SQLite file + WAL). Target: under 3 minutes for a year on this machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import days, hours, readings


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
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "hanport.cli", "import", str(capture), "--db", url],
                   check=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    engine = open_db(url)
    with engine.connect() as conn:
        n_readings = conn.execute(select(func.count()).select_from(readings)).scalar() or 0
        n_hours = conn.execute(select(func.count()).select_from(hours)).scalar() or 0
        n_days = conn.execute(select(func.count()).select_from(days)).scalar() or 0
    engine.dispose()
    years = n_hours / 8760 if n_hours else 0
    print(f"capture size:     {capture.stat().st_size / 1e6:8.1f} MB")
    print(f"import time:      {elapsed:8.1f} s   (target < 180 s for a year)")
    print(f"import CPU time:  {cpu:8.1f} s   (user + system of all threads)")
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
