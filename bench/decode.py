"""Decode speed: hanport vs amshan 2.1.1 on the same byte streams, one core, one run.

    .venv/bin/python bench/decode.py [--frames N] [--year]

Streams: Kamstrup list 1 (228 B, 3-phase), Aidon list 3 (hourly, 3-phase), Kaifa list 2 (3-phase),
made by hanport's encoder with a different power value in every frame. Each decoder goes end
to end: raw bytes in 4 KiB chunks → frames → CRC check → decoded readings. amshan is the best
Python peer (used by Home Assistant's AMS integration); install it only for benchmarks and tests.
``--year`` also times ``hanport decode`` over a year of 10-second Kamstrup frames (3,153,600).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hanport.protocol import HanEncoder, HanStream, Reading
from hanport.protocol._decode import ApduDecoder

try:
    from han import autodecoder, hdlc  # amshan: installed for benchmarks and tests only
except ImportError:
    autodecoder = hdlc = None

OSLO = ZoneInfo("Europe/Oslo")
CHUNK = 4096
STREAMS = {
    "Kamstrup list 1": ("Kamstrup", "6841121BN243101040", "instantaneous"),
    "Aidon list 3": ("Aidon", "6534", "hourly-with-energy"),
    "Kaifa list 2": ("Kaifa", "MA304H3E", "instantaneous"),
}


def make_stream(manufacturer: str, meter_type: str, list_kind: str, frames: int) -> bytes:
    encoder = HanEncoder(manufacturer, meter_id="5706567274389702", meter_type=meter_type, phases=3)
    start = datetime(2026, 1, 1, tzinfo=OSLO)
    parts = []
    for i in range(frames):
        values = {
            "active_power_import_w": 500 + (i * 37) % 9000,
            "active_power_export_w": 0,
            "reactive_power_import_var": 120,
            "reactive_power_export_var": 15,
            "current_l1_a": 3.2 + (i % 50) / 100,
            "current_l2_a": 1.5,
            "current_l3_a": 2.25,
            "voltage_l1_v": 231,
            "voltage_l2_v": 229,
            "voltage_l3_v": 233,
            "active_energy_import_kwh": 12000 + i / 100,
            "active_energy_export_kwh": 0,
            "reactive_energy_import_kvarh": 300,
            "reactive_energy_export_kvarh": 42,
        }
        parts.append(encoder.encode(list_kind, values, start + timedelta(seconds=10 * i)))
    return b"".join(parts)


def hanport_decode(data: bytes, *, max_templates: int | None = None) -> int:
    stream = HanStream()
    if max_templates is not None:
        stream._decoder = ApduDecoder(max_templates=max_templates)
    count = 0
    for position in range(0, len(data), CHUNK):
        stream.receive_data(data[position : position + CHUNK])
        for event in stream.events():
            count += isinstance(event, Reading)
    return count


def hanport_general_decode(data: bytes) -> int:
    """hanport without its compiled layouts: every frame through the general decoder."""
    return hanport_decode(data, max_templates=0)


def amshan_decode(data: bytes) -> int:
    reader = hdlc.HdlcFrameReader(False)
    decoder = autodecoder.AutoDecoder()
    count = 0
    for position in range(0, len(data), CHUNK):
        for frame in reader.read(data[position : position + CHUNK]):
            if frame.is_good_ffc and frame.is_expected_length and decoder.decode_message(frame):
                count += 1
    return count


def frames_per_second(decode, data: bytes, expected: int, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        decoded = decode(data)
        elapsed = time.perf_counter() - started
        if decoded != expected:
            raise SystemExit(f"{decode.__name__} decoded {decoded} of {expected} frames")
        best = max(best, expected / elapsed)
    return best


def year_decode(seconds_budget: float = 120.0) -> None:
    day = make_stream("Kamstrup", "6841121BN243101040", "instantaneous", 8640)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "year.bin"
        with path.open("wb") as out:
            for _ in range(365):
                out.write(day)
        size = path.stat().st_size
        command = [sys.executable, "-m", "hanport.cli", "decode", str(path), "--stats"]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True
        )
        elapsed = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
            cpu_before.ru_utime + cpu_before.ru_stime
        )
    frames = 365 * 8640
    print(
        f"\nhanport decode, a year of 10-second Kamstrup list-1 frames ({frames:,} frames, ", end=""
    )
    print(f"{size / 1e6:.0f} MB):")
    rate = frames / elapsed
    print(f"  {elapsed:.1f} s wall, {cpu:.1f} s CPU, {rate:,.0f} frames/s", end="")
    verdict = "meets" if elapsed < seconds_budget else "MISSES"
    print(f" — {verdict} the target of < {seconds_budget:.0f} s")
    print(f"  {result.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=3000, help="frames per stream (default 3000)")
    parser.add_argument(
        "--year", action="store_true", help="also time `hanport decode` over a year"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the issue asks
    python = platform.python_version()
    print(f"Python {python} on {platform.machine()}, {os.cpu_count()} cores (pinned to one)")
    if hdlc is None:
        print("amshan is not installed (pip install amshan==2.1.1): hanport figures only")
    print("frames/s, best of 3 runs each; ratio = hanport / amshan")
    print(f"{'stream':<18}{'bytes':>6}{'hanport':>10}{'general':>10}{'amshan':>9}{'ratio':>8}")
    for name, (manufacturer, meter_type, list_kind) in STREAMS.items():
        data = make_stream(manufacturer, meter_type, list_kind, args.frames)
        ours = frames_per_second(hanport_decode, data, args.frames)
        general = frames_per_second(hanport_general_decode, data, args.frames)
        theirs = frames_per_second(amshan_decode, data, args.frames) if hdlc else float("nan")
        size = len(data) // args.frames
        row = f"{name:<18}{size:>6}{ours:>10,.0f}{general:>10,.0f}{theirs:>9,.0f}"
        print(f"{row}{ours / theirs:>7.1f}×")
    print("general = hanport with its compiled layout templates switched off")
    if args.year:
        year_decode()


if __name__ == "__main__":
    main()
