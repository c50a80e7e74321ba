"""API latency on a year of data: /api/hours for a month and /api/days for a year, p50/p95.

    .venv/bin/python bench/reader_import.py --workdir /tmp/hanport-year   # makes the database
    .venv/bin/python bench/reader_api.py --db sqlite:////tmp/hanport-year/reader.sqlite3

Starts `hanport serve` as a user would and times real HTTP requests (target: p95 < 50 ms).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

import httpx


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--year", default="2025")
    args = parser.parse_args()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "serve", "--db", args.db, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"(http://\S+?)/\s", proc.stdout.readline())
        if not match:
            raise SystemExit("hanport serve did not print its URL")
        base = match.group(1)
        year, month = int(args.year), args.month
        nxt = f"{int(month[:4]) + int(month[5:]) // 12}-{int(month[5:]) % 12 + 1:02d}-01"
        cases = {
            f"/api/hours (month {month})": ("/api/hours", {"from": f"{month}-01", "to": nxt}),
            f"/api/days (year {year})": (
                "/api/days",
                {"from": f"{year}-01-01", "to": f"{year + 1}-01-01"},
            ),
            f"/api/tariff (month {month})": ("/api/tariff", {"month": month}),
        }
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    client.get("/api/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            print(f"{'endpoint':32} {'rows':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for name, (path, params) in cases.items():
                rows = len(client.get(path, params=params).json())  # warm-up
                timings = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get(path, params=params)
                    timings.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                print(
                    f"{name:32} {rows:6d} {statistics.median(timings):8.1f} "
                    f"{percentile(timings, 0.95):8.1f} {max(timings):8.1f}"
                )
        print("target: p95 < 50 ms for hours-of-a-month and days-of-a-year")
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
