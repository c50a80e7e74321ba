"""Fleet: emulated meters → Mosquitto → N readers on one shared subscription → PostgreSQL.

    .venv/bin/python bench/fleet.py [--meters 10000] [--rate 10000] [--minutes 5] [--readers 2]
                                    [--publishers 2] [--step 30] [--db URL] [--profile]

A provider with a fleet runs `hanport read --mqtt-raw '$share/fleet/hanport/raw/#'
--mqtt-raw-client-id reader-N` N times against one broker and one PostgreSQL. Here the meters
(Kamstrup, frames from the protocol core's encoder) publish QoS 1 raw frames at ``--rate``
frames/s through Mosquitto (started here, queues unbounded), each meter's clock advancing
``--step`` seconds per round (time compressed, so a short run crosses hours: hourly lists with
registers every 3600 / step rounds). Half way, the last reader is killed (SIGKILL) and started
again with its client id: the broker redelivers what it had not acknowledged.

Printed, for the same run: frames/s published and stored (sustained), the lag at the end (from
the last publish until the last frame is stored), CPU time per frame of each process group
(publishers, broker, readers, database) measured from /proc, the machine's load, and the exact
checks: 0 lost, 0 duplicated, every hour between two hourly lists equal to their register
difference. Then which process group bounds the rate next, and what a second machine would add.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from services.ports import free_port, wait_for_port
from services.postgres import PostgresServer

OSLO = ZoneInfo("Europe/Oslo")
CLK = os.sysconf("SC_CLK_TCK")
GROUP = "fleet"
VALUES = {"active_power_export_w": 0, "reactive_power_import_var": 0,
          "reactive_power_export_var": 0, "current_l1_a": 1.0, "current_l2_a": 1.0,
          "current_l3_a": 1.0, "voltage_l1_v": 230, "voltage_l2_v": 230,
          "voltage_l3_v": 230}  # fmt: skip


# -- CPU from /proc -----------------------------------------------------------------------------
def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def read_peak_rss_mb(pid: int) -> float:
    """The process's peak resident size so far (VmHWM), 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def cpu_s(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of a process (all its threads); with its reaped children's too."""
    try:
        f = _stat(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(f[11]) + int(f[12])
    if reaped_children:
        ticks += int(f[13]) + int(f[14])
    return ticks / CLK


def tree_cpu_s(root: int) -> float:
    """A server and its live children (PostgreSQL's backends; exited ones are in cutime)."""
    total = cpu_s(root, reaped_children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                f = _stat(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(f[1]) == root:
                total += (int(f[11]) + int(f[12])) / CLK
    return total


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, every process of every helper included."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# -- the emulated fleet ---------------------------------------------------------------------------
def meter_id(n: int) -> str:
    return f"57065673{n:08d}"


def fleet_start(step: int) -> dt.datetime:
    """Ten rounds before yesterday 01:00 local time: recent (retention keeps it), and the
    rounds fall on the hour (``step`` divides 3600) from the tenth on."""
    day = dt.datetime.now(OSLO).date() - dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, 1, tzinfo=OSLO) - dt.timedelta(
        seconds=10 * step
    )


def publisher(
    port: int, first: int, last: int, rate: float, rounds: int, step: int, out: mp.Queue
) -> None:
    """Meters ``first``..``last``-1 publish ``rounds`` rounds at ``rate`` frames/s, QoS 1."""
    import paho.mqtt.client as mqtt

    from hanport.protocol import HanEncoder

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    encoders = [
        (f"hanport/raw/{meter_id(n)}", HanEncoder("Kamstrup", phases=3, meter_id=meter_id(n),
                                                  meter_type="6841121BN243101040"))
        for n in range(first, last)
    ]  # fmt: skip
    energy = [10_000.0 + n for n in range(first, last)]
    start = fleet_start(step)
    sent = 0
    info = None
    began = time.monotonic()
    for r in range(rounds):
        when = start + dt.timedelta(seconds=step * r)
        on_the_hour = when.minute == 0 and when.second == 0
        for i, (topic, enc) in enumerate(encoders):
            power = 300 + 37 * ((first + i) % 97) + 200 * ((r + i) % 7)
            values = {"active_power_import_w": power, **VALUES}
            if on_the_hour:
                registers = {"active_energy_import_kwh": round(energy[i], 2),
                             "active_energy_export_kwh": 0.0,
                             "reactive_energy_import_kvarh": 0.0,
                             "reactive_energy_export_kvarh": 0.0}  # fmt: skip
                frame = enc.encode("hourly-with-energy", {**values, **registers},
                                   when + dt.timedelta(seconds=5))  # fmt: skip
                info = client.publish(topic, frame, qos=1)
                sent += 1
            info = client.publish(topic, enc.encode("instantaneous", values, when), qos=1)
            sent += 1
            energy[i] += power * step / 3.6e6
            if sent % 200 == 0:
                ahead = began + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                while len(client._out_messages) > 20_000:  # the broker is behind: wait
                    time.sleep(0.01)
    if info is not None:
        info.wait_for_publish(timeout=600)
    while client._out_messages:  # every PUBACK in
        time.sleep(0.05)
    published_s = time.monotonic() - began
    client.loop_stop()
    client.disconnect()
    out.put((sent, published_s, time.process_time()))


# -- services ---------------------------------------------------------------------------------
def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = workdir / "mosquitto.conf"
    # durable readers: what a reader has not acknowledged (and what comes while it restarts)
    # stays queued, never dropped (the default keeps 1,000 per client)
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\nuser root\n"
    )
    proc = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port, 10)
    return proc, port


@dataclass
class Reader:
    index: int
    db: str
    port: int
    workdir: Path
    profile: bool = False
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    cpu_before: float = 0.0  # CPU of earlier lives (killed ones)
    frames_before: int = 0
    last_cpu: float = 0.0
    peak_rss_mb: float = 0.0  # the largest resident size of any of its lives
    last_frames: int = 0
    starts: list[float] = field(default_factory=list)
    up_s: float = 0.0  # of the latest start: until its HTTP server was up

    @property
    def client_id(self) -> str:
        return f"fleet-reader-{self.index}"

    def start(self) -> float:
        started = time.monotonic()
        log = self.workdir / f"reader-{self.index}-{len(self.starts)}.log"
        args = ["-m", "hanport.cli", "read", "--mqtt-raw", f"$share/{GROUP}/hanport/raw/#",
                "--mqtt-raw-client-id", self.client_id, "--mqtt-host", "127.0.0.1",
                "--mqtt-port", str(self.port), "--no-publish", "--db", self.db,
                "--port", "0", "--no-raw-frames"]  # fmt: skip
        if self.profile:
            # CPU time, not wall time: on a shared machine waiting is not cost
            code = (
                "import cProfile, sys, time\nfrom hanport.cli import main\n"
                "profile = cProfile.Profile(time.process_time)\n"
                f"sys.argv = ['hanport', *{args[2:]!r}]\n"
                "try:\n    profile.runcall(main)\n"
                f"finally:\n    profile.dump_stats({str(self.workdir / 'reader.prof')!r})\n"
            )
            args = ["-c", code]
        with log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, *args], stdout=out, stderr=out)
        deadline = time.monotonic() + 300
        while not self.url or not self.connected():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(
                    f"reader {self.index} did not start (life {len(self.starts) + 1}, exit "
                    f"{self.process.poll()}, {time.monotonic() - started:.0f} s, url "
                    f"{self.url!r}):\n{log.read_text()}"
                )
            match = re.search(r"(http://\S+?)/\s", log.read_text())
            if match and not self.url:
                self.url = match.group(1)
                self.up_s = time.monotonic() - started
            time.sleep(0.1)
        self.starts.append(time.monotonic() - started)
        return self.starts[-1]

    def connected(self) -> bool:
        try:
            health = httpx.get(f"{self.url}/api/health", timeout=20).json()
        except httpx.HTTPError:
            return False
        return bool(health["sources"] and health["sources"][0]["state"] == "connected")

    def sample(self) -> None:
        assert self.process is not None
        cpu = cpu_s(self.process.pid)
        if cpu:
            self.last_cpu = cpu
        self.peak_rss_mb = max(self.peak_rss_mb, read_peak_rss_mb(self.process.pid))
        try:
            answer = httpx.get(f"{self.url}/api/health", timeout=5)
        except httpx.HTTPError:
            return  # busy or restarting: the next sample counts
        if answer.status_code != 200:
            # a finding, not a reason to lose the run: said, and the next sample counts
            print(f"reader {self.index}: /api/health answered {answer.status_code}", flush=True)
            return
        sources = answer.json()["sources"]
        if sources:
            self.last_frames = int(sources[0]["frames_ok"])

    def kill(self) -> None:
        assert self.process is not None
        self.sample()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.cpu_before += self.last_cpu
        self.frames_before += self.last_frames
        self.last_cpu = self.last_frames = 0
        self.url = ""
        self.up_s = 0.0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sample()
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(120)

    @property
    def cpu(self) -> float:
        return self.cpu_before + self.last_cpu

    @property
    def frames(self) -> int:
        return self.frames_before + self.last_frames


# -- checks -----------------------------------------------------------------------------------
def stored(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(text("SELECT count(*) FROM readings")).scalar_one())


def checks(engine: object) -> dict[str, int]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        distinct = conn.execute(
            text("SELECT count(*) FROM (SELECT DISTINCT meter_id, at, list_kind FROM readings) d")
        ).scalar_one()
        pairs, wrong = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE h.meter_id IS NULL OR h.estimated OR "
                "abs(h.active_energy_import_kwh - (b.active_energy_import_kwh - "
                "a.active_energy_import_kwh)) > 1e-6) "
                "FROM registers a JOIN registers b ON b.meter_id = a.meter_id "
                "AND b.at = a.at + 3600 "
                "LEFT JOIN hours h ON h.meter_id = a.meter_id AND h.start = a.at"
            )
        ).one()
        meters = conn.execute(text("SELECT count(*) FROM meters")).scalar_one()
    return {"distinct": distinct, "hour_pairs": pairs, "hours_wrong": wrong, "meters": meters}


def print_profile(path: Path) -> None:
    if not path.exists():
        print("(no profile written)")
        return
    print("\nreader 1 profile (cProfile on process CPU time, top by own time):")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(14)


# -- the run ----------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10_000, help="frames/s published")
    parser.add_argument("--minutes", type=float, default=5.0, help="publishing time")
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--publishers", type=int, default=2, help="publishing processes")
    parser.add_argument("--step", type=int, default=30, help="meter seconds per round")
    parser.add_argument("--db", help="PostgreSQL URL (default: a private server)")
    parser.add_argument("--no-kill", action="store_true", help="no reader killed half way")
    parser.add_argument("--profile", action="store_true", help="cProfile reader 1")
    args = parser.parse_args()
    if 3600 % args.step:
        parser.error("--step must divide 3600 (hourly lists come on the hour)")
    rounds = max(2, round(args.minutes * 60 * args.rate / args.meters))
    workdir = Path(tempfile.mkdtemp(prefix="hanport-fleet-"))
    server = None
    if args.db:
        db = args.db
    else:
        server = PostgresServer()
        server.start()
        db = server.create_database("hanport_fleet")
    db_pid = server.process.pid if server and server.process else None
    from hanport.reader.storage.database import open_db

    engine = open_db(db)  # migrated once, before the readers
    broker, port = start_mosquitto(workdir)
    readers = [Reader(i + 1, db, port, workdir, profile=args.profile and i == 0)
               for i in range(args.readers)]  # fmt: skip
    publishers: list[mp.Process] = []
    try:
        for reader in readers:
            reader.start()
        load_before = os.getloadavg()
        busy0 = machine_busy()
        broker0 = cpu_s(broker.pid)
        db0 = tree_cpu_s(db_pid) if db_pid else 0.0
        reader0 = [cpu_s(r.process.pid) for r in readers if r.process]
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()
        share = args.meters / args.publishers
        print(f"{args.readers} readers subscribed; publishing {rounds} rounds of {args.meters} "
              f"meters at {args.rate:,.0f} frames/s …", flush=True)  # fmt: skip
        started = time.monotonic()
        for k in range(args.publishers):
            first, last = round(k * share), round((k + 1) * share)
            proc = ctx.Process(
                target=publisher,
                args=(port, first, last, args.rate * (last - first) / args.meters, rounds,
                      args.step, results),
            )  # fmt: skip
            proc.start()
            publishers.append(proc)
        killed_at = restart_s = None
        half = args.minutes * 30
        done: list[tuple[int, float, float]] = []
        while len(done) < len(publishers):
            for reader in readers:
                reader.sample()
            if not args.no_kill and killed_at is None and time.monotonic() - started > half:
                victim = readers[-1]
                victim.kill()
                killed_at = time.monotonic() - started
                restart_s = victim.start()
                print(f"killed reader {victim.index} at {killed_at:.0f} s, back in "
                      f"{restart_s:.1f} s (serving after {victim.up_s:.1f} s)",
                      flush=True)  # fmt: skip
            while not results.empty():
                done.append(results.get())
            time.sleep(0.5)
        published_at = time.monotonic()
        sent = sum(d[0] for d in done)
        publish_s = max(d[1] for d in done)
        publisher_cpu = sum(d[2] for d in done)
        for proc in publishers:
            proc.join(30)
        print(f"published {sent:,} frames in {publish_s:.1f} s; waiting for the readers …",
              flush=True)  # fmt: skip
        # the lag: until the last frame is stored
        count = stored(engine)
        deadline = time.monotonic() + 3600  # a backlog of minutes at full rate
        while count < sent and time.monotonic() < deadline:
            for reader in readers:
                reader.sample()
            time.sleep(1)
            count = stored(engine)
        lag_s = time.monotonic() - published_at
        all_stored_s = time.monotonic() - started
        for reader in readers:
            reader.sample()
        busy1 = machine_busy()
        broker_cpu = cpu_s(broker.pid) - broker0
        db_cpu = (tree_cpu_s(db_pid) - db0) if db_pid else 0.0  # --db: not measured
        reader_cpu = [r.cpu - (reader0[i] if i < len(reader0) else 0) for i, r in
                      enumerate(readers)]  # fmt: skip
        load_after = os.getloadavg()
        for reader in readers:
            reader.stop()  # the final flush books the last hours
        result = checks(engine)
        count = stored(engine)
        handled = sum(r.frames for r in readers)
    finally:
        for proc in publishers:
            if proc.is_alive():
                proc.kill()
        for reader in readers:
            if reader.process is not None and reader.process.poll() is None:
                reader.process.kill()
        broker.terminate()
        broker.wait(10)
        if server is not None:
            server.stop()

    lost = sent - count
    duplicated = count - result["distinct"]
    cores = os.cpu_count() or 1
    machine = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * 100
    print(f"\nfleet: {args.meters} meters, {args.readers} readers on $share/{GROUP}/…, "
          f"{args.publishers} publishers, QoS 1, {cores} cores")  # fmt: skip
    print(f"machine load avg {load_before[0]:.1f} → {load_after[0]:.1f}; whole machine "
          f"{machine:.0f} % busy during the run (other helpers included)")  # fmt: skip
    print(f"published {sent:,} frames in {publish_s:.1f} s = {sent / publish_s:,.0f} frames/s "
          f"(asked {args.rate:,.0f})")  # fmt: skip
    print(f"stored    {count:,} readings in {all_stored_s:.1f} s from the first publish = "
          f"{count / all_stored_s:,.0f} frames/s sustained")  # fmt: skip
    print(f"lag at the end: {lag_s:.1f} s from the last publish to the last frame stored")
    if killed_at is not None:
        print(f"killed reader {readers[-1].index} (SIGKILL) at {killed_at:.0f} s; back and "
              f"subscribed in {restart_s:.1f} s (its HTTP server up after "
              f"{readers[-1].up_s:.1f} s)")  # fmt: skip
    print(f"lost {lost}, duplicated {duplicated}; frames decoded by the readers {handled:,} "
          f"({handled - sent:+,} redelivered after the kill, ignored by the key)")  # fmt: skip
    print(f"hours between two hourly lists: {result['hour_pairs']:,}, not equal to the "
          f"register difference: {result['hours_wrong']}; meters {result['meters']:,}")  # fmt: skip
    print("peak resident memory: " + ", ".join(
        f"reader {r.index} {r.peak_rss_mb:,.0f} MB" for r in readers))  # fmt: skip
    groups = {"publishers (emulator)": publisher_cpu, "broker (mosquitto)": broker_cpu,
              **{f"reader {r.index}": reader_cpu[i] for i, r in enumerate(readers)},
              "database (postgres)": db_cpu}  # fmt: skip
    print("\nCPU per frame (process CPU time / frames published):")
    for name, seconds in groups.items():
        print(f"  {name:<24} {seconds / sent * 1e6:8.1f} µs   {seconds:7.1f} s CPU  "
              f"= {seconds / all_stored_s:4.2f} cores")  # fmt: skip
    readers_us = sum(reader_cpu) / sent * 1e6
    total_us = sum(groups.values()) / sent * 1e6
    print(f"  {'all':<24} {total_us:8.1f} µs → {cores} cores hold at most "
          f"{cores * 1e6 / total_us:,.0f} frames/s with everything on them")  # fmt: skip
    per_group = {"the readers (decoding, booking, COPY)": readers_us,
                 "the emulator": publisher_cpu / sent * 1e6,
                 "the broker": broker_cpu / sent * 1e6,
                 "the database": db_cpu / sent * 1e6}  # fmt: skip
    worst = max(per_group, key=lambda k: per_group[k])
    print(f"\nnext bottleneck: {worst}, {per_group[worst]:.0f} µs of CPU per frame "
          f"({per_group[worst] / total_us * 100:.0f} % of all)")  # fmt: skip
    rest = per_group["the broker"] + per_group["the database"]
    print(f"a second machine for the readers: this one keeps broker + database "
          f"({rest:.0f} µs/frame → {cores * 1e6 / max(rest, 1e-9):,.0f} frames/s), the other "
          f"decodes ({readers_us:.0f} µs/frame → {cores * 1e6 / readers_us:,.0f} frames/s on "
          f"{cores} cores); the emulator runs on neither in production")  # fmt: skip
    if args.profile:
        print_profile(workdir / "reader.prof")
    ok = lost == 0 and duplicated == 0 and result["hours_wrong"] == 0 and result["hour_pairs"] > 0
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
