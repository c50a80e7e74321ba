"""Captures made by the emulator (`hanport emulate --to file:`), and an independent decode of
their hourly registers for the tests to compare the reader against."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from hanport.protocol import HanStream, Reading

LOCAL = ZoneInfo("Europe/Oslo")


def emulate_capture(
    path: Path, start: str, duration: str, *, seed: int = 7, meter: str = "kamstrup"
) -> Path:
    """Run the emulator at full speed into ``path`` and return it."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hanport.cli",
            "emulate",
            "--meter",
            meter,
            "--seed",
            str(seed),
            "--start",
            start,
            "--speed",
            "max",
            "--duration",
            duration,
            "--to",
            f"file:{path}",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return path


@dataclass(frozen=True)
class Frame:
    offset: int
    length: int
    reading: Reading


def frames_of(data: bytes) -> list[Frame]:
    stream = HanStream()
    out = []
    for event in stream.feed(data):
        if isinstance(event, Reading):
            out.append(Frame(event.offset, len(event.frame), event))
    return out


def hourly_registers(frames: list[Frame]) -> dict[str, float]:
    """Local hour (``YYYY-MM-DDTHH:00:00``) → import register read on that hour, computed
    here from the meter clock alone (not with the reader's code)."""
    out: dict[str, float] = {}
    for f in frames:
        values = f.reading.values
        if values.get("active_energy_import_kwh") is None:
            continue
        clock = dt.datetime.fromisoformat(str(values["meter_clock"]))
        out[clock.strftime("%Y-%m-%dT%H:00:00")] = float(values["active_energy_import_kwh"])
    return out


def hourly_differences(registers: dict[str, float]) -> dict[str, float]:
    """Hour start → energy of that hour, for hours with a register at both ends.

    Local hour labels are turned into real instants so the spring DST gap (02:00 missing)
    is handled: the next register is exactly one hour after in absolute time.
    """
    instants = {
        label: dt.datetime.fromisoformat(label).replace(tzinfo=LOCAL).timestamp()
        for label in registers
    }
    by_instant = {t: label for label, t in instants.items()}
    out = {}
    for label, t in instants.items():
        nxt = by_instant.get(t + 3600)
        if nxt is not None:
            out[label] = round(registers[nxt] - registers[label], 6)
    return out
