"""Decode speed: hanport vs amshan 2.1.1 and a C frame walk, on the same bytes, in one run.

    .venv/bin/python bench/decode.py [--frames N] [--meters M] [--year]

Captures come from the emulator (``hanport emulate --speed max``): one meter's stream per brand
(its short list and hourly list as the meter sends them, ``--frames`` frames each) and a
many-meter capture of a fleet (``--meters`` meters of three brands, 1- and 3-phase, each with
its own identity, ``hanport emulate --fleet``). For each capture:

* whole process: ``hanport decode FILE`` against a Python process that runs amshan over the
  same file and writes one JSON object per reading, as ``hanport decode`` does. CPU seconds of
  each child process (so the machine's other load counts for neither); ratio = amshan / hanport.
  hanport is best of 3, amshan one run (it is the slow side). The children keep compiled
  bytecode (in a scratch ``PYTHONPYCACHEPREFIX``, warmed up first), as an installed package
  does, even where the environment says ``PYTHONDONTWRITEBYTECODE``.
* in-process frames/s of hanport: as events (what a reader takes), as JSON texts (the lane
  ``hanport decode`` takes), and of its general path alone.
* ``bench/frame_walk.c``, compiled here with ``cc -O2``: the same frames walked in C checking
  both HDLC checksums, the reference; hanport's speed as a fraction of it.

amshan is the best Python peer (Home Assistant's AMS integration); it is in the test extra.
``--year`` also times ``hanport decode`` over a year of one Kamstrup meter (3.2 million frames),
with the kernel's share (writing 1.35 GB of JSON to a file costs seconds of system time).
A summary at the end sets each ratio against issue 15's targets (one meter ≥ 100×, the fleet
≥ 30×, the year in a quarter of the 34 CPU seconds it took before the compiled core).

The full run, on a quiet machine (the compiled wheel first; about 15 minutes with the year):

    make compiled && .venv/bin/python bench/decode.py --compiled build/compiled --year
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hanport.emulator.meter import BRANDS
from hanport.protocol import HanStream, Reading, is_compiled
from hanport.protocol._decode import ApduDecoder

CHUNK = 1 << 16
#: issue 15's targets: whole process, ratio of amshan's CPU time to hanport's
ONE_METER_TARGET = 100.0
FLEET_TARGET = 30.0
START = "2026-01-15T00:30"
#: one Python process running amshan as a user would: file in, one JSON line per reading out
AMSHAN_DECODE = """
import json, sys
from han import autodecoder, hdlc
reader, decoder, write = hdlc.HdlcFrameReader(False), autodecoder.AutoDecoder(), sys.stdout.write
with open(sys.argv[1], "rb") as capture:
    while chunk := capture.read(1 << 16):
        for frame in reader.read(chunk):
            if frame.is_good_ffc and frame.is_expected_length:
                decoded = decoder.decode_message(frame)
                if decoded:
                    write(json.dumps(decoded, default=str) + "\\n")
"""
FLEET = """
[[generate]]
count = {k3}
brand = "kamstrup"
seed = 1
output = "-"
[[generate]]
count = {k1}
brand = "kamstrup"
phases = 1
seed = 5000
output = "-"
[[generate]]
count = {a3}
brand = "aidon"
seed = 1
output = "-"
[[generate]]
count = {a1}
brand = "aidon"
phases = 1
seed = 5000
output = "-"
[[generate]]
count = {f3}
brand = "kaifa"
seed = 1
output = "-"
[[generate]]
count = {f1}
brand = "kaifa"
phases = 1
seed = 5000
output = "-"
"""


@dataclass
class Process:
    readings: int
    cpu: float  # user + kernel
    wall: float
    kernel: float = 0.0  # of ``cpu``: system calls, above all writing the output file


def hanport_cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "hanport.cli", *arguments]


#: environment of the measured children: bytecode cached as in an installed package
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


#: the children's environment for the compiled core (``--compiled``), empty when not measured
COMPILED_ENV: dict[str, str] = {}


def run(command: list[str], output: Path, env: dict[str, str] | None = None) -> Process:
    """Run ``command`` with stdout to ``output``; its CPU seconds and output lines."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with output.open("wb") as out:
        subprocess.run(
            command, stdout=out, stderr=subprocess.DEVNULL, check=True, env=env or CHILD_ENV
        )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    kernel = after.ru_stime - before.ru_stime
    cpu = (after.ru_utime - before.ru_utime) + kernel
    with output.open("rb") as lines:
        readings = sum(1 for _ in lines)
    return Process(readings, cpu, wall, kernel)


def one_meter(brand: str, frames: int, path: Path) -> Path:
    seconds = frames * BRANDS[brand].slot_ms // 1000
    command = hanport_cli(
        "emulate", "--meter", brand, "--speed", "max", "--start", START,
        "--duration", f"{seconds}s", "--to", f"file:{path}",
    )  # fmt: skip
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return path


def fleet(meters: int, path: Path) -> Path:
    """A many-meter capture: every meter of an emulated fleet writes to one stdout."""
    share = {"k3": 0.25, "k1": 0.1, "a3": 0.25, "a1": 0.1, "f3": 0.2, "f1": 0.1}
    counts = {key: max(1, round(meters * part)) for key, part in share.items()}
    toml = path.with_suffix(".toml")
    toml.write_text(FLEET.format(**counts), encoding="utf-8")
    command = hanport_cli(
        "emulate", "--fleet", str(toml), "--speed", "max", "--start", START, "--duration", "2m"
    )
    with path.open("wb") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.DEVNULL, check=True)
    return path


def in_process(
    data: bytes, max_templates: int | None = None, *, lane: bool = False
) -> tuple[int, float]:
    """Readings and best frames/s of three runs of a HanStream over ``data``: its events
    (what a reader takes), or with ``lane`` its JSON texts (what ``hanport decode`` takes)."""
    best = 0.0
    readings = 0
    for _ in range(3):
        # ApduDecoder's own bound unless one is asked for (None is not a bound)
        decoder = (
            ApduDecoder() if max_templates is None else ApduDecoder(max_templates=max_templates)
        )
        stream = HanStream(decoder=decoder)
        readings = 0
        started = time.process_time()
        for position in range(0, len(data), CHUNK):
            stream.receive_data(data[position : position + CHUNK])
            if lane:
                readings += len(stream.json_texts()[0])
            else:
                for event in stream.events():
                    readings += isinstance(event, Reading)
        best = max(best, stream.stats.frames_ok / (time.process_time() - started))
    return readings, best


def frame_walk(binary: Path | None, capture: Path) -> tuple[int, float] | None:
    """Frames of the capture and the C walk's frames/s (best pass, CPU time)."""
    if binary is None:
        return None
    printed = subprocess.run(
        [str(binary), str(capture), "0.3"], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(part.split("=") for part in printed.split())
    return int(fields["frames"]), float(fields["frames_per_second"])


def compile_walk(directory: Path) -> Path | None:
    compiler = shutil.which("cc")
    if compiler is None:
        print("no C compiler (cc): the C reference is left out")
        return None
    binary = directory / "frame_walk"
    source = Path(__file__).with_name("frame_walk.c")
    subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], check=True)
    return binary


@dataclass
class Row:
    """One capture's figures for the summary."""

    name: str
    target: float
    pure: float | None = None  # ratio to amshan, whole process
    compiled: float | None = None
    walk: dict[str, float] = field(default_factory=dict)  # % of the C walk's frames/s


def compare(
    name: str, capture: Path, walk: Path | None, startup: dict[str, float], target: float
) -> Row:
    size = capture.stat().st_size
    output = capture.with_suffix(".json")
    hanport = min(
        (run(hanport_cli("decode", str(capture)), output) for _ in range(3)),
        key=lambda process: process.cpu,
    )
    theirs = (
        run([sys.executable, "-c", AMSHAN_DECODE, str(capture)], output)
        if "amshan" in startup
        else None
    )
    data = capture.read_bytes()
    _, fast = in_process(data)
    _, lane = in_process(data, lane=True)
    _, general = in_process(data, max_templates=0)
    reference = frame_walk(walk, capture)
    frames = reference[0] if reference else hanport.readings
    print(f"\n{name}: {frames:,} frames, {size / 1e6:.1f} MB")
    print(
        f"  whole process  hanport decode {hanport.cpu:6.2f} s CPU "
        f"({hanport.readings / hanport.cpu:>9,.0f} readings/s, {hanport.readings:,} readings)"
    )
    compiled = (
        min(
            (run(hanport_cli("decode", str(capture)), output, COMPILED_ENV) for _ in range(3)),
            key=lambda process: process.cpu,
        )
        if COMPILED_ENV
        else None
    )
    if compiled is not None:
        print(
            f"                 compiled       {compiled.cpu:6.2f} s CPU "
            f"({compiled.readings / compiled.cpu:>9,.0f} readings/s, "
            f"{compiled.readings:,} readings)"
        )
    row = Row(name, target)
    if theirs is not None and compiled is not None:
        row.compiled = theirs.cpu / compiled.cpu
        print(f"                 compiled ratio {row.compiled:6.1f}× amshan")
    if theirs is not None:
        print(
            f"                 amshan         {theirs.cpu:6.2f} s CPU "
            f"({theirs.readings / theirs.cpu:>9,.0f} readings/s, {theirs.readings:,} readings)"
        )
        row.pure = theirs.cpu / hanport.cpu
        print(f"                 pure ratio     {row.pure:6.1f}× amshan")
        ours_per_frame = (hanport.cpu - startup["hanport"]) / hanport.readings
        theirs_per_frame = (theirs.cpu - startup["amshan"]) / theirs.readings
        if ours_per_frame > 0 and theirs_per_frame > 0:
            print(
                f"  past start-up  hanport {1e6 * ours_per_frame:5.1f} µs/reading, amshan "
                f"{1e6 * theirs_per_frame:5.0f} µs: {theirs_per_frame / ours_per_frame:.0f}× "
                "(what a long capture approaches)"
            )
            if compiled is not None and compiled.cpu > startup["compiled"]:
                per_frame = (compiled.cpu - startup["compiled"]) / compiled.readings
                print(
                    f"                 compiled {1e6 * per_frame:5.1f} µs/reading: "
                    f"{theirs_per_frame / per_frame:.0f}×"
                )
        else:
            print("  past start-up  not measurable: start-up varied more than the decoding took")
    print(
        f"  in-process     hanport {fast:>9,.0f} frames/s as events, {lane:>9,.0f} as JSON "
        f"texts; general path {general:>9,.0f} ({'compiled' if is_compiled() else 'pure'} core)"
    )
    if reference is not None:
        walk_rate = reference[1]
        row.walk["pure"] = 100 * hanport.readings / hanport.cpu / walk_rate
        print(
            f"  C frame walk   {walk_rate:>9,.0f} frames/s; hanport in-process at "
            f"{100 * fast / walk_rate:.2f} % of it, whole process at {row.walk['pure']:.2f} %"
        )
        if compiled is not None:
            row.walk["compiled"] = 100 * compiled.readings / compiled.cpu / walk_rate
            print(f"                 compiled whole process at {row.walk['compiled']:.2f} % of it")
    return row


def start_up(directory: Path, amshan: bool) -> dict[str, float]:
    """Fill the bytecode cache, then each side's CPU seconds on an empty capture (best of 5)."""
    empty = directory / "empty.bin"
    empty.touch()
    commands = {"hanport": hanport_cli("decode", str(empty))}
    envs = {"compiled": COMPILED_ENV} if COMPILED_ENV else {}
    if COMPILED_ENV:
        commands["compiled"] = commands["hanport"]
    if amshan:
        commands["amshan"] = [sys.executable, "-c", AMSHAN_DECODE, str(empty)]
    seconds = {}
    for who, command in commands.items():
        env = envs.get(who)
        run(command, directory / "empty.json", env)
        seconds[who] = min(run(command, directory / "empty.json", env).cpu for _ in range(5))
    figures = ", ".join(f"{who} {cpu:.3f} s CPU" for who, cpu in seconds.items())
    print(f"start-up (an empty capture): {figures}")
    return seconds


#: CPU seconds of `hanport decode` over the year before the compiled core (issue 15)
YEAR_BEFORE = 34.0


def year(directory: Path, walk: Path | None) -> dict[str, float]:
    capture = one_meter("kamstrup", 365 * 8640, directory / "year.bin")
    builds = {"pure": CHILD_ENV, **({"compiled": COMPILED_ENV} if COMPILED_ENV else {})}
    print("\nhanport decode, a year of one Kamstrup meter:")
    seconds = {}
    for build, env in builds.items():
        result = run(hanport_cli("decode", str(capture)), directory / "year.json", env)
        frames = result.readings
        output_size = (directory / "year.json").stat().st_size
        seconds[build] = result.cpu
        print(
            f"  {build:8} {frames:,} readings, {result.wall:.1f} s wall, {result.cpu:.1f} s CPU, "
            f"{frames / result.cpu:,.0f}/CPU s; of it {result.kernel:.1f} s in the kernel, "
            f"most of it writing the {output_size / 1e9:.2f} GB of JSON text"
        )
    (directory / "year.json").unlink()
    reference = frame_walk(walk, capture)
    if reference is not None:
        print(f"  C frame walk of the same year: {reference[1]:,.0f} frames/s")
    return seconds


def summary(rows: list[Row], year_seconds: dict[str, float]) -> None:
    """The comparisons against the targets of issue 15, in one block."""
    print("\nsummary: whole process CPU, ratio to amshan and share of the C frame walk's speed")
    for row in rows:
        parts = []
        for build in ("pure", "compiled"):
            ratio = getattr(row, build)
            if ratio is not None:
                walk = row.walk.get(build)
                share = f" ({walk:.2f} % of C)" if walk is not None else ""
                verdict = "meets" if ratio >= row.target else "below"
                parts.append(f"{build} {ratio:5.1f}×{share} {verdict}")
        figures = "; ".join(parts) or "no amshan ratio"
        print(f"  {row.name:28} target ≥ {row.target:.0f}×: {figures}")
    target = YEAR_BEFORE / 4
    for build, cpu in year_seconds.items():
        verdict = "meets" if cpu <= target else "above"
        print(
            f"  year, {build:8}             {cpu:.1f} s CPU against ≤ {target:.1f} s "
            f"(a quarter of {YEAR_BEFORE:.0f} s): {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=6000, help="frames per one-meter stream")
    parser.add_argument("--meters", type=int, default=300, help="meters in the fleet capture")
    parser.add_argument("--no-amshan", action="store_true", help="hanport and C figures only")
    parser.add_argument("--year", action="store_true", help="also decode a year (3.2 M frames)")
    parser.add_argument(
        "--compiled",
        type=Path,
        help="a directory holding the compiled wheel installed with pip --target (make compiled)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, children too
    amshan = not args.no_amshan
    if amshan:
        try:
            import han  # noqa: F401  (amshan: installed with the test extra)
        except ImportError:
            print("amshan is not installed (pip install amshan==2.1.1): no ratios")
            amshan = False
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores "
        f"(pinned to one), load average {load}"
    )
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
        if args.compiled is not None:
            COMPILED_ENV.update(CHILD_ENV, PYTHONPATH=str(args.compiled.resolve()))
        startup = start_up(directory, amshan)
        walk = compile_walk(directory)
        rows = []
        for brand in ("kamstrup", "aidon", "kaifa"):
            capture = one_meter(brand, args.frames, directory / f"{brand}.bin")
            label = f"one {BRANDS[brand].manufacturer} meter"
            rows.append(compare(label, capture, walk, startup, ONE_METER_TARGET))
        capture = fleet(args.meters, directory / "fleet.bin")
        label = f"a fleet of {args.meters} meters"
        rows.append(compare(label, capture, walk, startup, FLEET_TARGET))
        year_seconds = year(directory, walk) if args.year else {}
        summary(rows, year_seconds)
    print(f"\nload average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
