"""TCP source reconnects when the bridge restarts; captures in hex; paced file replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hanport.protocol import HanEncoder
from hanport.reader.pipeline import Hub
from hanport.reader.sources import Backoff, read_capture, run_file, run_tcp

WHEN = dt.datetime(2026, 1, 5, 10, 0, 0, tzinfo=ZoneInfo("Europe/Oslo"))
VALUES = {"active_power_import_w": 800, "active_power_export_w": 0,
          "reactive_power_import_var": 0, "reactive_power_export_var": 0,
          "current_l1_a": 1.0, "current_l2_a": 1.0, "current_l3_a": 1.0,
          "voltage_l1_v": 230, "voltage_l2_v": 230, "voltage_l3_v": 230}  # fmt: skip


def _frames(n: int, start: int = 0) -> list[bytes]:
    enc = HanEncoder("Kamstrup", phases=3, meter_id="5706567200000009",
                     meter_type="6841121BN243101040")  # fmt: skip
    return [
        enc.encode("instantaneous", VALUES, WHEN + dt.timedelta(seconds=10 * i))
        for i in range(start, start + n)
    ]


async def _until(predicate: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_tcp_bridge_restart_is_survived() -> None:
    async def bridge(frames: list[bytes]) -> asyncio.Server:
        async def client(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            for frame in frames:
                w.write(frame[:7])  # split frames: the stream reassembles them
                w.write(frame[7:])
                await w.drain()
            w.close()  # the bridge goes away after its frames

        return await asyncio.start_server(client, "127.0.0.1", 0)

    server = await bridge(_frames(3))
    port = server.sockets[0].getsockname()[1]
    hub = Hub()
    got: list[Any] = []
    hub.push_sinks.append(got.append)
    task = asyncio.create_task(run_tcp(hub, "127.0.0.1", port))
    try:
        await _until(lambda: len(got) >= 3, 10)
        server.close()
        await server.wait_closed()
        await _until(lambda: hub.sources[0].state == "retrying", 10)
        server = await _restart(port)  # the bridge is back on the same port
        await _until(lambda: len(got) >= 5, 15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
    assert hub.sources[0].crc_errors == 0


async def _restart(port: int) -> asyncio.Server:
    frames = _frames(2, start=3)

    async def client(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for frame in frames:
            w.write(frame)
        await w.drain()
        w.close()

    return await asyncio.start_server(client, "127.0.0.1", port, reuse_address=True)


def test_hex_capture_with_comments(tmp_path: Path) -> None:
    frames = _frames(2)
    text = "# two frames\n" + "\n".join(f.hex(" ") for f in frames) + "\n"
    path = tmp_path / "capture.hex"
    path.write_text(text)
    assert read_capture(path) == b"".join(frames)
    binary = tmp_path / "capture.bin"
    binary.write_bytes(b"".join(frames))
    assert read_capture(binary) == b"".join(frames)


async def test_paced_file_replay(tmp_path: Path) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(b"".join(_frames(6)))  # 50 s of pushes
    hub = Hub()
    got: list[Any] = []
    hub.push_sinks.append(got.append)
    started = time.monotonic()
    await run_file(hub, path, speed=100)  # 50 s at 100× = 0.5 s
    assert len(got) == 6
    assert 0.4 <= time.monotonic() - started < 3
    assert got[0].at == WHEN.timestamp()  # stamped with the meter's time


def test_backoff_doubles_and_resets() -> None:
    backoff = Backoff(0.5, 4)
    assert [backoff.next() for _ in range(5)] == [0.5, 1, 2, 4, 4]
    backoff.reset()
    assert backoff.next() == 0.5


def test_power_only_list_belongs_to_the_meter_the_stream_named() -> None:
    enc = HanEncoder("Aidon", phases=3, meter_id="7359992890000001", meter_type="6534")
    power = {"active_power_import_w": 1500}
    frames = [
        enc.encode("power-only", power, WHEN),  # before any ID: nobody to book it to
        enc.encode("instantaneous", VALUES, WHEN + dt.timedelta(seconds=2)),
        enc.encode("power-only", power, WHEN + dt.timedelta(seconds=4)),
    ]
    hub = Hub()
    status = hub.add_source("test", "tcp")
    feed = hub.feed_for(status)
    pushes = feed.feed(b"".join(frames), received_at=WHEN.timestamp())
    assert [(p.list_kind, p.meter_id) for p in pushes] == [
        ("instantaneous", "7359992890000001"),
        ("power-only", "7359992890000001"),
    ]
    assert status.frames_ok == 3


def test_every_feed_of_a_hub_shares_one_decoder() -> None:
    """A fleet reader gets a topic (a feed) per meter: one decoder's compiled layouts serve all."""
    hub = Hub()
    status = hub.add_source("mqtt:test", "mqtt")
    first, second = hub.feed_for(status), hub.feed_for(status)
    assert first.stream._decoder is second.stream._decoder
