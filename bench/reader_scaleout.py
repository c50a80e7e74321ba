"""Scale-out: 2 reader processes × 500 emulated meters → one PostgreSQL via MQTT raw frames.

    .venv/bin/python bench/reader_scaleout.py [--meters 1000] [--minutes 20] [--db URL]

A service provider or housing co-op with many meters runs several `hanport read --mqtt-raw`
processes on one broker and one database. Here the meters are split by topic between two
readers (``hanport/raw/site-a/<meter>`` and ``…/site-b/…``, as two sites or bridges would), each
frame is published once with QoS 1, and the check at the end is exact: every published push is
in the database once (unique key meter + time + list), none lost, none duplicated.

Starts its own Mosquitto (unbounded queues for QoS 1) and, without --db, its own PostgreSQL
(the test suite's helper). Frames come from the protocol core's encoder (Kamstrup, 10 s list
1 and the hourly list 2), for a simulated span starting at 2026-01-12 00:00 local time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import aiomqtt
import httpx
from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hanport.protocol import HanEncoder
from hanport.reader.storage.schema import hours, readings
from services.ports import free_port, wait_for_port
from services.postgres import PostgresServer

OSLO = ZoneInfo("Europe/Oslo")


def make_frames(meters: int, minutes: int) -> list[tuple[str, bytes]]:
    """(topic, frame) in time order: every meter's 10 s pushes plus the hourly lists."""
    start = dt.datetime(2026, 1, 12, 0, 0, tzinfo=OSLO)
    rng = random.Random(1)
    encoders = []
    for n in range(meters):
        meter_id = f"57065672{n:08d}"
        site = "site-a" if n < meters // 2 else "site-b"
        enc = HanEncoder("Kamstrup", phases=3, meter_id=meter_id,
                         meter_type="6841121BN243101040")  # fmt: skip
        encoders.append((f"hanport/raw/{site}/{meter_id}", enc, rng.uniform(300, 4000)))
    energy = [10_000.0 + n for n in range(meters)]
    out = []
    for step in range(minutes * 6):
        when = start + dt.timedelta(seconds=10 * step)
        for i, (topic, enc, base) in enumerate(encoders):
            power = int(base + 200 * ((step + i) % 7))
            values = {"active_power_import_w": power, "active_power_export_w": 0,
                      "reactive_power_import_var": 0, "reactive_power_export_var": 0,
                      "current_l1_a": 1.0, "current_l2_a": 1.0, "current_l3_a": 1.0,
                      "voltage_l1_v": 230, "voltage_l2_v": 230, "voltage_l3_v": 230}  # fmt: skip
            if when.minute == 0 and when.second == 0:
                registers = {
                    "active_energy_import_kwh": round(energy[i], 2),
                    "active_energy_export_kwh": 0.0,
                    "reactive_energy_import_kvarh": 0.0,
                    "reactive_energy_export_kvarh": 0.0,
                }
                hourly = enc.encode(
                    "hourly-with-energy", {**values, **registers}, when + dt.timedelta(seconds=5)
                )
                out.append((topic, hourly))
            out.append((topic, enc.encode("instantaneous", values, when)))
            energy[i] += power * 10 / 3.6e6
    return out


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = workdir / "mosquitto.conf"
    # QoS 1 messages for a busy subscriber are queued, not dropped (default limit: 1000)
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nuser root\n"
    )
    proc = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port, 10)
    return proc, port


def start_reader(db: str, port: int, site: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "read", "--mqtt-raw", f"hanport/raw/{site}/#",
         "--mqtt-raw-client-id", f"reader-{site}",
         "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port), "--no-discovery",
         "--mqtt-client-id", f"pub-{site}", "--db", db, "--port", "0", "--no-raw-frames"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    match = re.search(r"(http://\S+?)/\s", proc.stdout.readline())
    if not match:
        raise SystemExit("the reader did not start")
    return proc, match.group(1)


async def publish(port: int, frames: list[tuple[str, bytes]], lanes: int = 16) -> float:
    """Publish with QoS 1 over ``lanes`` concurrent tasks; each meter stays in one lane, so
    its frames keep their order (as they would from one bridge)."""
    started = time.perf_counter()
    by_lane: list[list[tuple[str, bytes]]] = [[] for _ in range(lanes)]
    for topic, frame in frames:
        by_lane[hash(topic) % lanes].append((topic, frame))
    async with aiomqtt.Client("127.0.0.1", port, max_inflight_messages=1000) as client:

        async def lane(items: list[tuple[str, bytes]]) -> None:
            for topic, frame in items:
                await client.publish(topic, frame, qos=1)

        await asyncio.gather(*(lane(items) for items in by_lane))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=20, help="simulated span per meter")
    parser.add_argument("--db", help="PostgreSQL URL (default: a private server)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hanport-scaleout-"))
    server = None
    if args.db:
        db = args.db
    else:
        server = PostgresServer()
        server.start()
        db = server.create_database()
    broker, port = start_mosquitto(workdir)
    readers: list[subprocess.Popen[str]] = []
    try:
        started = time.perf_counter()
        frames = make_frames(args.meters, args.minutes)
        print(f"{len(frames)} frames for {args.meters} meters encoded in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        urls = []
        for site in ("site-a", "site-b"):
            proc, url = start_reader(db, port, site)
            readers.append(proc)
            urls.append(url)
        with httpx.Client(timeout=10) as http:
            for url in urls:  # both subscribed before the first frame
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    sources = http.get(f"{url}/api/health").json()["sources"]
                    if sources and sources[0]["state"] == "connected":
                        break
                    time.sleep(0.2)
        started = time.perf_counter()
        publish_s = asyncio.run(publish(port, frames))
        engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1))
        stored = 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(readings)).scalar() or 0
            if stored >= len(frames):
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        time.sleep(2)  # anything late would show up as a duplicate or an excess now
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(readings)).scalar() or 0
            distinct = conn.execute(text(
                "SELECT count(*) FROM (SELECT DISTINCT meter_id, at, list_kind FROM readings) d"
            )).scalar()  # fmt: skip
            per_meter = conn.execute(text(
                "SELECT min(n), max(n), count(*) FROM "
                "(SELECT meter_id, count(*) AS n FROM readings GROUP BY meter_id) m"
            )).one()  # fmt: skip
            n_hours = conn.execute(select(func.count()).select_from(hours)).scalar()
        engine.dispose()
        print(f"published {len(frames)} frames in {publish_s:.1f} s "
              f"({len(frames) / publish_s:,.0f}/s, one QoS 1 client, 16 lanes)")  # fmt: skip
        print(f"stored    {stored} readings ({distinct} distinct) in {elapsed:.1f} s "
              f"→ {stored / elapsed:,.0f} readings/s with 2 reader processes")  # fmt: skip
        print(f"meters    {per_meter[2]} (readings per meter {per_meter[0]}–{per_meter[1]}); "
              f"hours booked {n_hours}")  # fmt: skip
        lost = len(frames) - stored
        print(f"lost {lost}, duplicated {stored - distinct}")
        return 0 if lost == 0 and stored == distinct else 1
    finally:
        for proc in readers:
            proc.terminate()
            proc.wait(30)
        broker.terminate()
        broker.wait(10)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
