"""How fast does the emulator write a capture? Prints frames/s and the time for a year.

    .venv/bin/python bench/emulate.py [--duration 1y] [--meter kamstrup]

1. Runs ``hanport emulate --speed max --to file:`` as a user would and times it end to end
   (the issue asks for a year of one Kamstrup meter, 3.2 million list-1 frames, in < 2 minutes).
2. For comparison, encodes one simulated day in-process with every frame made by the protocol
   encoder (``FrameWriter(fast=False)``) and with the template path.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from hanport.emulator.frames import FrameWriter
from hanport.emulator.load import OSLO, HouseholdLoad
from hanport.emulator.meter import BRANDS, MeterModel
from hanport.protocol import HanEncoder

YEAR_S = 365 * 86_400


def count_frames(capture: Path) -> int:
    """Walk the HDLC length fields (frames are back to back in a capture)."""
    data = capture.read_bytes()
    pos = count = 0
    while pos < len(data):
        if data[pos] != 0x7E:
            raise SystemExit(f"no frame at byte {pos}")
        length = ((data[pos + 1] & 0x07) << 8) | data[pos + 2]
        pos += length + 2
        count += 1
    return count


def end_to_end(meter: str, duration: str) -> tuple[int, float, int]:
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
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - began
        return count_frames(capture), seconds, capture.stat().st_size


def in_process_day(meter: str, *, fast: bool) -> tuple[int, float]:
    spec = BRANDS[meter]
    model = MeterModel(spec, HouseholdLoad(1), phases=3)
    encoder = HanEncoder(
        spec.manufacturer,
        phases=3,
        meter_id=spec.meter_id_prefix.ljust(16, "0"),
        meter_type=model.meter_type,
    )
    writer = FrameWriter(model, encoder.encode, fast=fast)
    start = datetime(2026, 1, 15, tzinfo=OSLO)
    began = time.perf_counter()
    frames = sum(1 for push in model.pushes(start, start + timedelta(days=1)) if writer.frame(push))
    return frames, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meter", default="kamstrup", choices=sorted(BRANDS))
    parser.add_argument("--duration", default="1y")
    args = parser.parse_args()

    for fast in (False, True):
        frames, seconds = in_process_day(args.meter, fast=fast)
        label = "template + FCS" if fast else "HanEncoder for every frame"
        print(
            f"one day in-process, {label:27s}: {frames:7d} frames in {seconds:6.2f} s "
            f"= {frames / seconds:9.0f} frames/s"
        )

    frames, seconds, size = end_to_end(args.meter, args.duration)
    rate = frames / seconds
    print(
        f"hanport emulate --speed max --duration {args.duration}: {frames} frames, "
        f"{size / 1e6:.0f} MB in {seconds:.1f} s = {rate:.0f} frames/s"
    )
    frames_per_year = frames * YEAR_S / max(1, _duration_s(args.duration))
    print(f"=> a year of one {args.meter} meter: {frames_per_year / rate:.0f} s (goal: < 120 s)")


def _duration_s(text: str) -> float:
    from hanport.emulator.cli import parse_duration

    return parse_duration(text).total_seconds()


if __name__ == "__main__":
    main()
