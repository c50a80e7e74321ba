"""How fast does the emulator write a capture? Prints frames/s and the time for a year.

    .venv/bin/python bench/emulate.py [--duration 1y] [--meter kamstrup]

1. Runs ``hanport emulate --speed max --to file:`` as a user would and times it end to end
   (the issue asks for a year of one Kamstrup meter, 3.2 million list-1 frames, in < 2 minutes).
2. To see where the time goes, makes one simulated week in-process in three separate steps:
   the meter model (physics, schedule, registers), the encoder's arguments (values, local
   time) and :meth:`hanport.protocol.HanEncoder.encode`.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from hanport.emulator.load import OSLO, HouseholdLoad
from hanport.emulator.meter import BRANDS, MeterModel
from hanport.protocol import HanEncoder, HanStream

YEAR_S = 365 * 86_400


def count_frames(capture: Path) -> int:
    """Frames in a capture, read by the protocol core's own stream (which also checks them)."""
    stream = HanStream()
    with capture.open("rb") as file:
        while chunk := file.read(1 << 20):
            stream.receive_data(chunk)
            for _ in stream.events():
                pass
    stats = stream.stats
    if stats.crc_errors or stats.undecodable or stats.bytes_skipped:
        raise SystemExit(f"{capture}: the capture has bad frames ({stats})")
    return stats.frames_ok


def end_to_end(meter: str, duration: str) -> tuple[int, float, float, int]:
    """Frames, wall-clock seconds, CPU seconds of the emulator process, capture bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "capture.bin"
        command = [
            sys.executable,
            "-m",
            "hanport.cli",
            "emulate",
            "--meter",
            meter,
            "--start",
            "2026-01-01T00:00",
            "--speed",
            "max",
            "--duration",
            duration,
            "--to",
            f"file:{capture}",
        ]
        began = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - began
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        return count_frames(capture), seconds, cpu, capture.stat().st_size


def in_process_week(meter: str) -> tuple[int, float, float, float]:
    """Pushes in a week, and the seconds spent in the model, the arguments and the encoder."""
    spec = BRANDS[meter]
    model = MeterModel(spec, HouseholdLoad(1), phases=3)
    encoder = HanEncoder(
        spec.manufacturer,
        phases=3,
        meter_id=spec.meter_id_prefix.ljust(16, "0"),
        meter_type=model.meter_type,
    )
    start = datetime(2026, 1, 15, tzinfo=OSLO)
    began = time.perf_counter()
    pushes = list(model.pushes(start, start + timedelta(days=7)))
    modelled = time.perf_counter()
    arguments = [(p.list_kind, model.values(p), p.at.astimezone(OSLO)) for p in pushes]
    prepared = time.perf_counter()
    for kind, values, when in arguments:
        encoder.encode(kind, values, when)
    encoded = time.perf_counter()
    return len(pushes), modelled - began, prepared - modelled, encoded - prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meter", default="kamstrup", choices=sorted(BRANDS))
    parser.add_argument("--duration", default="1y")
    args = parser.parse_args()

    pushes, *steps = in_process_week(args.meter)
    labels = ("model", "values + local time", "HanEncoder.encode")
    for label, seconds in zip(labels, steps, strict=True):
        print(
            f"one week in-process, {label:20s}: {pushes} pushes in {seconds:5.2f} s "
            f"= {pushes / seconds:9.0f} /s"
        )
    print(f"one week in-process, all three          : {pushes / sum(steps):9.0f} frames/s")

    print(f"load average (1, 5, 15 min) before: {os.getloadavg()} on {os.cpu_count()} CPUs")
    frames, seconds, cpu, size = end_to_end(args.meter, args.duration)
    rate = frames / seconds
    print(
        f"hanport emulate --speed max --duration {args.duration}: {frames} frames, "
        f"{size / 1e6:.0f} MB in {seconds:.1f} s = {rate:.0f} frames/s "
        f"({cpu:.1f} s of CPU: {frames / cpu:.0f} frames per CPU second)"
    )
    year = YEAR_S / max(1, _duration_s(args.duration))
    print(
        f"=> a year of one {args.meter} meter: {seconds * year:.0f} s wall clock, "
        f"{cpu * year:.0f} s CPU (goal: < 120 s); load average after: {os.getloadavg()}"
    )


def _duration_s(text: str) -> float:
    from hanport.emulator.cli import parse_duration

    return parse_duration(text).total_seconds()


if __name__ == "__main__":
    main()
