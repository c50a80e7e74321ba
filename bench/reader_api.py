"""API latency on a year of data, at concurrency 1 and 20, beside a bare Starlette endpoint.

    .venv/bin/python bench/reader_import.py --workdir /tmp/hanport-year   # makes the database
    .venv/bin/python bench/reader_api.py --db sqlite:////tmp/hanport-year/reader.sqlite3

Starts `hanport serve` as a user would, and in the same run a bare Starlette app under the same
uvicorn settings (one process, one trivial JSON endpoint, no database): its figures are what the
machine, the server and this client cost, so the reader's own cost is the difference and the
ratio means something on any machine. Each endpoint gets `--requests` requests from `c`
concurrent clients (httpx, keep-alive); printed: p50/p95 in ms and requests per second.
Targets: /api/now p95 < 10 ms at c=1; throughput that grows from c=1 to c=20.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

CONCURRENCY = (1, 20)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve_bare(port: int) -> None:
    """The yardstick: one JSON endpoint under uvicorn as `hanport serve` runs it."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def answer(_request: Request) -> JSONResponse:
        return JSONResponse([{"meter_id": "0", "active_power_import_w": 1234}])

    app = Starlette(routes=[Route("/{path:path}", answer)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _started(command: list[str], base: str | None) -> Iterator[str]:
    """Run ``command``; yield its base URL (``base``, or the URL it prints) once it answers."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        if base is None:
            assert proc.stdout is not None
            match = re.search(r"(http://\S+?)/\s", proc.stdout.readline())
            if not match:
                raise SystemExit(f"{command[2:4]} did not print its URL")
            base = match.group(1)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/health", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{command[2:4]} did not answer") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


async def _load(
    base: str, path: str, params: dict[str, str], requests: int, concurrency: int
) -> tuple[list[float], float]:
    """(latencies in ms, requests per second) of ``requests`` GETs by ``concurrency`` clients."""
    timings: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        (await client.get(path, params=params)).raise_for_status()  # warm-up

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.get(path, params=params)
                timings.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return timings, len(timings) / elapsed


def _cases(month: str, year: int) -> dict[str, tuple[str, dict[str, str]]]:
    nxt = f"{int(month[:4]) + int(month[5:]) // 12}-{int(month[5:]) % 12 + 1:02d}-01"
    return {
        "/api/now": ("/api/now", {}),
        f"/api/hours (month {month})": ("/api/hours", {"from": f"{month}-01", "to": nxt}),
        f"/api/days (year {year})": (
            "/api/days",
            {"from": f"{year}-01-01", "to": f"{year + 1}-01-01"},
        ),
        f"/api/tariff (month {month})": ("/api/tariff", {"month": month}),
    }


def _p50_p95(timings: list[float]) -> tuple[float, float]:
    return percentile(timings, 0.5), percentile(timings, 0.95)


def _row(
    name: str,
    concurrency: int,
    result: tuple[list[float], float],
    bare: tuple[list[float], float] | None,
) -> str:
    timings, rate = result
    p50, p95 = _p50_p95(timings)
    line = f"{name:30} {concurrency:3d} {p50:8.1f} {p95:8.1f} {rate:9.0f}"
    if bare is not None:
        line += f"   p95 {p95 / _p50_p95(bare[0])[1]:5.1f}× bare, req/s {rate / bare[1]:5.2f}× bare"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--year", default="2025")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    reader_cmd = [sys.executable, "-m", "hanport.cli", "serve", "--db", args.db, "--port", "0"]
    bare_port = _free_port()
    bare_cmd = [sys.executable, __file__, "--db", "-", "--serve-bare", str(bare_port)]
    with (
        _started(reader_cmd, None) as reader,
        _started(bare_cmd, f"http://127.0.0.1:{bare_port}") as bare,
    ):
        print(f"{'endpoint':30} {'c':>3} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>9}")
        for c in CONCURRENCY:
            bare_result = asyncio.run(_load(bare, "/api/now", {}, args.requests, c))
            print(_row("bare Starlette", c, bare_result, None))
            for name, (path, params) in _cases(args.month, int(args.year)).items():
                result = asyncio.run(_load(reader, path, params, args.requests, c))
                print(_row(name, c, result, bare_result))
    print("targets: /api/now p95 < 10 ms at c=1; req/s at c=20 above c=1 for every endpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
