"""A live reader's footprint: RSS and CPU of `hanport read` fed in real time by the emulator.

    .venv/bin/python bench/reader_live.py [--seconds 120] [--meter aidon] [--mqtt HOST:PORT]

Starts `hanport emulate --to tcp://127.0.0.1:0 --speed 1` and `hanport read --tcp …` under
`/usr/bin/time -v` (SQLite in a temporary directory, API on a free port, polled every 5 s like an
open dashboard), waits out a warm-up, then samples /proc for the reader process; at the end the
reader is stopped with SIGTERM and `/usr/bin/time` reports its maximum resident set size over
the whole run. Target: RSS < 100 MB, CPU < 2 % of a core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--meter", default="kamstrup")
    parser.add_argument("--mqtt", metavar="HOST:PORT", help="also publish to this broker")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hanport-live-"))
    emulator = subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "emulate", "--meter", args.meter, "--speed", "1",
         "--to", "tcp://127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    reader = None
    pid = None  # of the reader itself, the child of /usr/bin/time
    try:
        assert emulator.stdout is not None
        stream = json.loads(emulator.stdout.readline())["stream"]
        command = [sys.executable, "-m", "hanport.cli", "read", "--tcp",
                   stream.removeprefix("tcp://"), "--db", str(workdir / "live.sqlite3"),
                   "--port", "0"]  # fmt: skip
        if args.mqtt:
            host, port = args.mqtt.rsplit(":", 1)
            command += ["--mqtt-host", host, "--mqtt-port", port]
        reader = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert reader.stdout is not None
        match = re.search(r"(http://\S+?)/\s", reader.stdout.readline())
        base = match.group(1) if match else None
        client = httpx.Client(base_url=base, timeout=10) if base else None
        pid = int(Path(f"/proc/{reader.pid}/task/{reader.pid}/children").read_text().split()[0])
        time.sleep(args.warmup)
        start_cpu, start = cpu_seconds(pid), time.monotonic()
        peak = rss_mb(pid)
        while time.monotonic() - start < args.seconds:
            time.sleep(5)
            if client is not None:
                client.get("/api/now")
            peak = max(peak, rss_mb(pid))
        used = cpu_seconds(pid) - start_cpu
        wall = time.monotonic() - start
        frames = 0
        if client is not None:
            health = client.get("/api/health").json()
            frames = sum(s["frames_ok"] for s in health["sources"])
        print(f"meter: {args.meter}, window {wall:.0f} s after {args.warmup:.0f} s warm-up, "
              f"{frames} frames in total, mqtt: {'yes' if args.mqtt else 'no'}")  # fmt: skip
        os.kill(pid, signal.SIGTERM)  # the reader flushes and exits; then time reports
        _, report = reader.communicate(timeout=30)
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
        print(f"RSS peak: {peak:6.1f} MB sampled in the window; "
              f"{int(match.group(1)) / 1024 if match else float('nan'):.1f} MB maximum resident "
              "over the whole run (/usr/bin/time -v)   (target < 100 MB)")  # fmt: skip
        print(f"CPU:      {100 * used / wall:6.2f} % of one core   (target < 2 %)")
    finally:
        if pid is not None and reader is not None and reader.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for proc in (reader, emulator):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
