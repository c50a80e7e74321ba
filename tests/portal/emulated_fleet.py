"""Run the real meter emulator (`hanport emulate --fleet … --control …`) for the portal's tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hanport.portal.seed import DEMO_METERS, write_fleet_toml
from hanport.protocol import HanStream, Reading

__all__ = ["EmulatedFleet", "readings_within"]


@dataclass
class EmulatedFleet:
    control_url: str
    streams: dict[str, str]  #: meter id -> tcp://host:port
    process: subprocess.Popen[bytes]
    log: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path, speed: float = 10.0) -> EmulatedFleet:
        fleet = write_fleet_toml(directory / "fleet.toml", DEMO_METERS)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hanport.cli",
                "emulate",
                "--fleet",
                str(fleet),
                "--control",
                "127.0.0.1:0",
                "--state-dir",
                str(directory / "state"),
                "--speed",
                str(speed),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        streams: dict[str, str] = {}
        log: list[str] = []
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline().decode()
            if not line:
                break
            log.append(line)
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if "control" in info:
                return cls(info["control"], streams, process, log)
            if "meter_id" in info:
                streams[info["meter_id"]] = info["stream"]
        process.kill()
        process.communicate()
        raise RuntimeError("the emulator did not announce its control interface:\n" + "".join(log))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)  # waits, and closes the pipe
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


async def readings_within(
    stream_url: str, seconds: float, enough: int | None = None
) -> list[Reading]:
    """Connect to a meter's HAN stream and decode what arrives within `seconds` (or return as
    soon as `enough` readings have come)."""
    host, _, port = stream_url.removeprefix("tcp://").rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    stream = HanStream()
    readings: list[Reading] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        while (left := end - loop.time()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), timeout=left)
            except TimeoutError:
                break
            if not chunk:
                break
            readings += [e for e in stream.feed(chunk) if isinstance(e, Reading)]
            if enough is not None and len(readings) >= enough:
                break
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()  # closed now, not by the garbage collector
    return readings
