"""Scale-out: readers sharing one MQTT stream ($share, QoS 1, durable sessions acknowledged
after the commit) into one PostgreSQL, with the real Mosquitto of the suite."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
import httpx
import pytest
from reader_synthetic import pushes as synthetic_pushes
from sqlalchemy import create_engine, func, select, text

from hanport.protocol import HanEncoder
from hanport.reader.pipeline import Hub
from hanport.reader.settings import load_settings
from hanport.reader.sources import run_mqtt
from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import hours, readings, registers
from hanport.reader.storage.writer import Writer
from services.processes import die_with_parent, stop_process
from services.waiting import wait_for, wait_for_async

OSLO = ZoneInfo("Europe/Oslo")
HOUR_S = 3600
_runs = itertools.count(1)
VALUES = {"active_power_import_w": 1200, "active_power_export_w": 0,
          "reactive_power_import_var": 0, "reactive_power_export_var": 0,
          "current_l1_a": 1.0, "current_l2_a": 1.0, "current_l3_a": 1.0,
          "voltage_l1_v": 230, "voltage_l2_v": 230, "voltage_l3_v": 230}  # fmt: skip


def _unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_runs)}"


def fleet_frames(base: str, meters: int, steps: int) -> list[tuple[str, bytes]]:
    """(topic, frame) in time order: 10 s pushes from yesterday 00:58 plus the hourly lists
    (recent: a restarted reader's retention job must not thin them away)."""
    day = dt.datetime.now(OSLO).date() - dt.timedelta(days=1)
    start = dt.datetime(day.year, day.month, day.day, 0, 58, tzinfo=OSLO)
    encoders = [
        (f"{base}/{n:04d}", HanEncoder("Kamstrup", phases=3, meter_id=f"57065672{n:08d}",
                                       meter_type="6841121BN243101040"))
        for n in range(meters)
    ]  # fmt: skip
    energy = [1000.0 + n for n in range(meters)]
    out = []
    for step in range(steps):
        when = start + dt.timedelta(seconds=10 * step)
        for i, (topic, enc) in enumerate(encoders):
            if when.minute == 0 and when.second == 0:
                registers = {"active_energy_import_kwh": round(energy[i], 2),
                             "active_energy_export_kwh": 0.0,
                             "reactive_energy_import_kvarh": 0.0,
                             "reactive_energy_export_kvarh": 0.0}  # fmt: skip
                out.append((topic, enc.encode("hourly-with-energy", {**VALUES, **registers},
                                              when + dt.timedelta(seconds=5))))  # fmt: skip
            out.append((topic, enc.encode("instantaneous", VALUES, when)))
            energy[i] += 1.2 * 10 / 3600
    return out


async def _publish(host: str, port: int, frames: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(host, port) as client:
        for topic, frame in frames:
            await client.publish(topic, frame, qos=1)


class Reader:
    """``hanport read`` in a process of its own, sharing the group's subscription."""

    def __init__(self, db: str, broker: tuple[str, int], topic: str, client_id: str) -> None:
        host, port = broker
        self.args = [sys.executable, "-m", "hanport.cli", "read", "--mqtt-raw", topic,
                     "--mqtt-raw-client-id", client_id, "--mqtt-host", host,
                     "--mqtt-port", str(port), "--no-publish", "--db", db, "--port", "0",
                     "--no-raw-frames"]  # fmt: skip
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> None:
        self.stop()
        self.process = subprocess.Popen(
            [*die_with_parent(), *self.args], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        match = re.search(r"(http://\S+?)/\s", self.process.stdout.readline())
        assert match, "the reader did not print its URL"
        self.url = match.group(1)
        wait_for(lambda: self.health()["sources"][0]["state"] == "connected", 30,
                 what="the reader subscribed")  # fmt: skip

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/api/health", timeout=5).json())

    def frames(self) -> int:
        return int(self.health()["sources"][0]["frames_ok"])

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            if self.process.stdout is not None:
                self.process.stdout.close()


@pytest.fixture
def readers() -> Iterator[Callable[..., Reader]]:
    started: list[Reader] = []

    def make(*args: Any) -> Reader:
        reader = Reader(*args)
        started.append(reader)
        return reader

    yield make
    for reader in started:
        reader.stop()


def test_two_readers_share_a_group_and_a_killed_one_loses_nothing(
    mosquitto: tuple[str, int], postgres_url: str, readers: Callable[..., Reader]
) -> None:
    base = _unique("hanport/raw/fleet")
    group = _unique("readers")
    frames = fleet_frames(base, meters=8, steps=40)  # 320 pushes + 8 hourly lists
    topic = f"$share/{group}/{base}/#"
    a = readers(postgres_url, mosquitto, topic, _unique("reader-a"))
    b = readers(postgres_url, mosquitto, topic, _unique("reader-b"))
    a.start()
    b.start()
    half = len(frames) // 2
    asyncio.run(_publish(*mosquitto, frames[:half]))
    wait_for(lambda: b.frames() > 0, 30, what="reader b took its share")
    b.kill()  # mid-stream: what it held uncommitted and unacknowledged is the broker's again
    asyncio.run(_publish(*mosquitto, frames[half:]))
    b.start()  # the same client id: its session, with what was queued and unacknowledged
    engine = create_engine(postgres_url)
    try:

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(readings)).scalar_one())

        try:
            wait_for(lambda: stored() >= len(frames), 60, what="every frame stored")
        except AssertionError:
            raise AssertionError(
                f"{stored()} of {len(frames)} stored; a: {a.health()}; b: {b.health()}"
            ) from None
        # both took part, and nothing comes in twice or late
        assert a.frames() > 0 and b.frames() > 0
        with engine.connect() as conn:
            distinct = conn.execute(
                text("SELECT count(DISTINCT (meter_id, at, list_kind)) FROM readings")
            ).scalar_one()
            n_registers = conn.execute(select(func.count()).select_from(registers)).scalar_one()
            booked = conn.execute(select(func.count()).select_from(hours)).scalar_one()
        assert stored() == distinct == len(frames)
        assert n_registers == 8
        assert booked > 0
    finally:
        engine.dispose()


class _NeverCommits:
    """A writer that keeps everything in memory: nothing may be acknowledged."""

    def __init__(self) -> None:
        self.marks = 0

    def mark(self) -> int:
        self.marks += 1
        return self.marks

    def on_commit(self, listener: Callable[[int], None]) -> Callable[[], None]:
        return lambda: None


class _CommitsAtOnce(_NeverCommits):
    """A writer that commits each message as soon as the event loop runs on."""

    def on_commit(self, listener: Callable[[int], None]) -> Callable[[], None]:
        self.listener = listener
        return lambda: None

    def mark(self) -> int:
        position = super().mark()
        asyncio.get_running_loop().call_soon(self.listener, position)
        return position


async def _receive(
    broker: tuple[str, int],
    topic: str,
    client_id: str,
    commits: Any,
    count: int,
    then_publish: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
) -> list[Any]:
    """Connect the durable source, publish ``then_publish``, take ``count`` pushes, leave."""
    hub = Hub()
    hub.commits = commits
    got: list[Any] = []

    hub.push_sinks.append(got.append)
    task = asyncio.create_task(run_mqtt(hub, *broker, topic, client_id=client_id))
    try:
        await wait_for_async(lambda: hub.sources and hub.sources[0].state == "connected", 10)
        if then_publish:
            await _publish(*broker, list(then_publish))
        await wait_for_async(lambda: len(got) >= count, 10, what=f"{count} pushes")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return got


async def test_a_message_is_acknowledged_only_after_its_commit(
    mosquitto: tuple[str, int],
) -> None:
    base = _unique("hanport/raw/ack")
    topic = f"$share/{_unique('g')}/{base}/#"
    client_id = _unique("durable")
    frames = fleet_frames(base, meters=1, steps=6)
    # the session subscribes, then five frames come while the reader is away
    await _receive(mosquitto, topic, client_id, _NeverCommits(), 0)
    await _publish(*mosquitto, frames[:5])
    first = await _receive(mosquitto, topic, client_id, _NeverCommits(), 5)
    # never committed, so never acknowledged: the broker sends them again
    again = await _receive(mosquitto, topic, client_id, _CommitsAtOnce(), 5)
    assert [p.at for p in again] == [p.at for p in first] and len(first) == 5
    # committed and acknowledged: the session's next connection gets only a new frame (a
    # redelivery would come before it)
    last = await _receive(mosquitto, topic, client_id, _NeverCommits(), 1, frames[5:])
    assert [p.at for p in last] == [max(p.at for p in first) + 10]


def test_a_fleet_readers_subscription_and_id_come_from_file_or_environment(
    tmp_path: Path,
) -> None:
    config = tmp_path / "reader.toml"
    config.write_text(
        '[mqtt]\nhost = "broker"\nraw_topic = "$share/readers/hanport/raw/#"\n'
        'raw_client_id = "reader-1"\n'
    )
    from_file = load_settings({}, config=str(config), environ={})
    assert from_file.mqtt_source == "$share/readers/hanport/raw/#"
    assert from_file.mqtt_source_client_id == "reader-1"
    from_env = load_settings({}, config=str(config), environ={"HANPORT_MQTT_RAW_CLIENT_ID": "r-2"})
    assert from_env.mqtt_source_client_id == "r-2"


def test_two_writers_sharing_a_meter_book_every_hour_from_its_registers(db_url: str) -> None:
    """On a shared subscription each reader gets every other frame of a meter, and so only
    some of its hourly lists: every hour between two registers is still booked from them,
    once, not estimated by the reader that saw only the hour's pushes."""
    engine = open_db(db_url)
    start = int(dt.datetime(2026, 3, 2, tzinfo=OSLO).timestamp())
    writers = [Writer(engine, store_raw_frames=False) for _ in range(2)]
    chunk: list[list[Any]] = [[], []]
    for n, push in enumerate(synthetic_pushes(start, 6)):
        chunk[n % 2].append(push)
        if n % 97 == 96:  # both flush now and then, in turn, as two processes would
            for writer, pushes in zip(writers, chunk, strict=True):
                for p in pushes:
                    writer.add(p)
                writer.flush()
            chunk = [[], []]
    for writer, pushes in zip(writers, chunk, strict=True):
        for p in pushes:
            writer.add(p)
        writer.flush(final=True)
    with engine.connect() as conn:
        regs = conn.execute(
            select(registers.c.at, registers.c.active_energy_import_kwh).order_by(registers.c.at)
        ).all()
        booked = {
            int(r.start): (r.active_energy_import_kwh, r.estimated)
            for r in conn.execute(select(hours)).all()
        }
    engine.dispose()
    assert len(regs) == 7
    for (at, kwh), (next_at, next_kwh) in itertools.pairwise(regs):
        assert next_at == at + 3600
        assert booked[at] == (pytest.approx(next_kwh - kwh, abs=1e-6), False)


def test_consecutive_hourly_lists_at_two_readers_book_the_hour_between_them(
    db_url: str,
) -> None:
    """Reader A has the hourly lists of 00:00 and 01:00, reader B the one of 02:00, and B
    commits before A has stored 01:00 (A is working through a backlog): B can only estimate
    01:00–02:00. When A's 01:00 comes, that hour is booked from the two registers."""
    engine = open_db(db_url)
    start = int(dt.datetime(2026, 3, 2, tzinfo=OSLO).timestamp())
    every = list(synthetic_pushes(start, 2))
    a = [p for p in every if p.at < start + HOUR_S + 60]  # 00:00 … 01:00 with two lists
    b = [p for p in every if p.at >= start + HOUR_S + 60]  # 01:01 … 02:00 with one list
    first_a = [p for p in a if p.at < start + 60]  # A stores 00:00's list first
    writers = {name: Writer(engine, store_raw_frames=False) for name in "ab"}
    for name, pushes, final in (("a", first_a, False), ("b", b, True),
                                ("a", a[len(first_a):], True)):  # fmt: skip
        for p in pushes:
            writers[name].add(p)
        writers[name].flush(final=final)
    with engine.connect() as conn:
        regs = conn.execute(
            select(registers.c.at, registers.c.active_energy_import_kwh).order_by(registers.c.at)
        ).all()
        booked = {
            int(r.start): (r.active_energy_import_kwh, r.estimated)
            for r in conn.execute(select(hours)).all()
        }
    engine.dispose()
    assert [r.at for r in regs] == [start, start + HOUR_S, start + 2 * HOUR_S]
    for (at, kwh), (_, next_kwh) in itertools.pairwise(regs):
        assert booked[at] == (pytest.approx(next_kwh - kwh, abs=1e-6), False)
