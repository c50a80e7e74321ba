"""API latency and throughput on a year of data, at concurrency 1 and 20, beside a bare endpoint.

    .venv/bin/python bench/reader_import.py --workdir /tmp/hanport-year   # makes the database
    .venv/bin/python bench/reader_api.py --db sqlite:////tmp/hanport-year/reader.sqlite3
    make bench-api                                # both, the database kept in build/bench-year

The load comes from wrk (Debian: `apt-get install -y wrk`, or `make bench-deps`), a C load
generator in its own process, so the client's cost does not count against the server (an
asyncio client in Python costs more per request than the endpoints it measures). Each case runs
for `--duration` seconds on `c` keep-alive connections (wrk -c1 with one thread, -c20 with two)
after a one-second warm-up; wrk's Lua `done` hook prints the latency percentiles.

Starts `hanport serve [--workers N]` as a user would, and in the same run a bare Starlette app
served the way `hanport serve` serves (uvicorn.Server on asyncio in one process, or uvicorn's
supervisor over N, same socket options and log settings), with one trivial JSON endpoint and no
database: its figures are what this machine, uvicorn and the client cost, so the reader's own
cost is the difference and the ratios mean something on any machine. The bare endpoint runs
first and last, to show the machine drifting under other load. `--workers 2` (default 1) runs
both with two processes: one Python process does one request's Python work at a time (the GIL),
so on a machine with idle CPUs requests per second grow with concurrency only that far.

Printed per endpoint and concurrency: p50/p95/p99 in ms, requests per second, the server
process's CPU time per request (user + system over all its threads, from /proc: the figure that
stays honest on a shared machine), the growth of req/s from c=1 to c=20, and the load average.
Targets: /api/now p95 < 10 ms at c=1; req/s at c=20 above c=1 for every endpoint. Exit status 1
when a target is missed or a request failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

CONCURRENCY = (1, 20)
NOW_P95_TARGET_MS = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: wrk's Lua hook: one line with what the table needs (latencies in µs)
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d errors=%d p50_us=%d p95_us=%d p99_us=%d\\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""

WRK_MISSING = """bench/reader_api.py needs wrk, a C load generator run in its own process:
    sudo apt-get install -y wrk        (Debian/Ubuntu; or: make bench-deps)
    https://github.com/wg/wrk          (elsewhere: build from source)"""


def bare_app() -> Any:
    """The yardstick: one trivial JSON endpoint, no database."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def answer(_request: Request) -> JSONResponse:
        return JSONResponse([{"meter_id": "0", "active_power_import_w": 1234}])

    return Starlette(routes=[Route("/{path:path}", answer)])


def serve_bare(port: int, workers: int) -> None:
    """``bare_app`` served as `hanport serve [--workers N]` serves the reader (reader/cli.py)."""
    import asyncio

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from hanport.reader.service import bind_socket

    sock = bind_socket("127.0.0.1", port)  # as `hanport serve` binds (TCP_NODELAY, backlog)
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(bare_app(), log_level="warning", access_log=False))
        asyncio.run(server.serve(sockets=[sock]))
        return
    # the workers are spawned: they import this module from the bench directory
    path = os.environ.get("PYTHONPATH")
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = f"{here}{os.pathsep}{path}" if path else here
    config = uvicorn.Config(
        "reader_api:bare_app",
        factory=True,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    Multiprocess(config, sockets=[sock]).run()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Server:
    base: str
    pid: int

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process and its children (workers), all threads."""
        return sum(_cpu_s(pid) for pid in _tree(self.pid))


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids += _tree(int(child))
    return pids


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@contextmanager
def _started(command: list[str], base: str | None) -> Iterator[Server]:
    """Run ``command``; yield it once ``/api/health`` answers (``base``, or the URL it prints)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        if base is None:
            assert proc.stdout is not None
            match = re.search(r"(http://\S+?)/\s", proc.stdout.readline())
            if not match:
                raise SystemExit(f"{command[2:4]} did not print its URL")
            base = match.group(1)
        deadline = time.monotonic() + 30
        while not _answers(f"{base}/api/health"):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{command[2:4]} did not answer")
            time.sleep(0.1)
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    rate: float  # requests per second
    p50: float  # ms
    p95: float
    p99: float
    cpu_ms: float  # server CPU per request


def _wrk(script: Path, url: str, concurrency: int, seconds: int) -> dict[str, int]:
    threads = 1 if concurrency == 1 else 2
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s"]
    out = subprocess.run(
        [*command, "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if not match:
        raise SystemExit(f"wrk printed no result for {url}:\n{out}")
    return {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}


def measure(script: Path, server: Server, path: str, concurrency: int, seconds: int) -> Result:
    url = f"{server.base}{path}"
    _wrk(script, url, concurrency, 1)  # warm-up: connections, caches, the thread pool
    cpu = server.cpu_s()
    got = _wrk(script, url, concurrency, seconds)
    cpu = server.cpu_s() - cpu
    requests = max(got["requests"], 1)
    return Result(
        requests=got["requests"],
        errors=got["errors"],
        rate=got["requests"] / (got["duration_us"] / 1e6),
        p50=got["p50_us"] / 1000,
        p95=got["p95_us"] / 1000,
        p99=got["p99_us"] / 1000,
        cpu_ms=cpu * 1000 / requests,
    )


def _cases(month: str, year: int) -> dict[str, str]:
    nxt = f"{int(month[:4]) + int(month[5:]) // 12}-{int(month[5:]) % 12 + 1:02d}-01"
    return {
        "/api/now": "/api/now",
        f"/api/hours (month {month})": "/api/hours?"
        + urlencode({"from": f"{month}-01", "to": nxt}),
        f"/api/days (year {year})": "/api/days?"
        + urlencode({"from": f"{year}-01-01", "to": f"{year + 1}-01-01"}),
        f"/api/tariff (month {month})": "/api/tariff?" + urlencode({"month": month}),
    }


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


HEADER = (
    f"{'endpoint':30} {'c':>3} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'req/s':>7} "
    f"{'CPU ms/req':>10}  {'vs bare (p95, req/s, CPU)':27} load 1/5/15"
)


def _row(name: str, c: int, r: Result, bare: Result | None) -> str:
    line = (
        f"{name:30} {c:3d} {r.p50:7.2f} {r.p95:7.2f} {r.p99:7.2f} {r.rate:7.0f} {r.cpu_ms:10.3f}  "
    )
    if bare is not None:
        ratios = (
            f"{r.p95 / bare.p95:5.1f}× {r.rate / bare.rate:5.2f}× {r.cpu_ms / bare.cpu_ms:5.1f}×"
        )
        line += f"{ratios:27} "
    else:
        line += f"{'':27} "
    return line + _load() + (f"  ERRORS {r.errors}" if r.errors else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--duration", type=int, default=5, help="seconds per case (default 5)")
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--year", default="2025")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes of the reader and of the bare app"
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.workers)
        return 0
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    workers = ["--workers", str(args.workers)]
    reader_cmd = [sys.executable, "-m", "hanport.cli", "serve", "--db", args.db, "--port", "0"]
    bare_port = _free_port()
    bare_cmd = [sys.executable, __file__, "--db", "-", "--serve-bare", str(bare_port)]
    reader_cmd, bare_cmd = reader_cmd + workers, bare_cmd + workers
    failed: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        _started(reader_cmd, None) as reader,
        _started(bare_cmd, f"http://127.0.0.1:{bare_port}") as bare,
    ):
        script = Path(tmp, "percentiles.lua")
        script.write_text(WRK_SCRIPT)
        print(
            f"{os.cpu_count()} CPUs; load average before: {_load()}; {args.duration} s a case; "
            f"{args.workers} process(es) for the reader and for the bare app"
        )
        print(HEADER, flush=True)
        yardstick = {c: measure(script, bare, "/api/now", c, args.duration) for c in CONCURRENCY}
        for c, result in yardstick.items():
            print(_row("bare Starlette", c, result, None), flush=True)
        for name, path in _cases(args.month, int(args.year)).items():
            results = {c: measure(script, reader, path, c, args.duration) for c in CONCURRENCY}
            for c, result in results.items():
                print(_row(name, c, result, yardstick[c]), flush=True)
            growth = results[20].rate / results[1].rate
            print(f"{'':30} req/s c=20 / c=1: {growth:.2f}")
            if growth <= 1:
                failed.append(f"{name}: req/s does not grow with concurrency ({growth:.2f})")
            if any(r.errors for r in results.values()):
                failed.append(f"{name}: failed requests")
            if path == "/api/now" and results[1].p95 >= NOW_P95_TARGET_MS:
                failed.append(f"/api/now p95 at c=1 is {results[1].p95:.1f} ms")
        for c in CONCURRENCY:
            print(
                _row(
                    "bare Starlette (again)", c, measure(script, bare, "/", c, args.duration), None
                )
            )
    print(
        f"targets: /api/now p95 < {NOW_P95_TARGET_MS:g} ms at c=1; "
        "req/s at c=20 above c=1 for every endpoint"
    )
    for line in failed:
        print(f"MISSED: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
