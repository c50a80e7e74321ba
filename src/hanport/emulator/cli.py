"""``hanport emulate``: run one meter or a fleet.

On start it prints one JSON line per meter (meter_id, metering_point_id, manufacturer,
meter_type, phases, port, stream), with ``--control`` ``{"control": URL}``, and then
``{"clock": ISO}``, the simulated time the meters start at, so a parent process can find the
streams and keep time with the meters. The lines go to standard output, or to standard error
when the capture itself goes to standard output (``--to -``).

With ``--state-dir`` a restart continues every meter where it stopped: port state, registers
and, unless ``--start`` says later, the simulated clock (see ``serve`` and ``state``). At speed 1
the clock is real time, so a restart resumes at now and the downtime counts as consumption.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import re
import resource
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hanport.emulator.fleet import FleetError, MeterConfig, load_fleet
from hanport.emulator.load import OSLO
from hanport.emulator.meter import BRANDS
from hanport.emulator.port import PortState
from hanport.emulator.serve import (
    MeterRuntime,
    SimClock,
    announce_line,
    build_runtime,
    resume_time,
    run_meter,
)
from hanport.emulator.state import PortStateStore, StateFileError

if TYPE_CHECKING:
    from hanport.emulator.control import ControlServer

__all__ = ["configure_emulate", "parse_duration", "parse_speed", "parse_start", "run_emulate"]

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdwy])")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1d``, ``1d12h``, ``1y`` (365 days) — elapsed simulated time."""
    text = text.strip().lower()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write e.g. 90s, 15m, 6h, 1d, 1d12h, 1w or 1y / skriv f.eks. 1d eller 6h"
        )
    return timedelta(seconds=sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def parse_speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if speed <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: speed is a positive number or max")
    return speed


def parse_start(text: str) -> datetime:
    """Local Norwegian time unless an offset is given: ``2026-01-01T00:00``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write the start as 2026-01-01T00:00 / skriv start som 2026-01-01T00:00"
        ) from None
    return value.replace(tzinfo=OSLO) if value.tzinfo is None else value


def _hex_bytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hexadecimal") from None


def configure_emulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--meter", choices=sorted(BRANDS), default="kamstrup", help="brand")
    parser.add_argument("--phases", type=int, choices=(1, 3), default=3)
    parser.add_argument(
        "--three-wire", action="store_true", help="3-phase 3-wire meter (IT grid, 230 V)"
    )
    parser.add_argument("--prosumer", action="store_true", help="with solar production")
    parser.add_argument("--seed", type=int, default=1, help="household and identities")
    parser.add_argument("--meter-id", default="", help="default: derived from the seed")
    parser.add_argument("--metering-point-id", default="", help="18-digit GSRN; default: derived")
    parser.add_argument(
        "--start",
        type=parse_start,
        help="simulated start, local time (default: where --state-dir's meters stopped, or now)",
    )
    parser.add_argument(
        "--speed", type=parse_speed, default=1.0, help="1 (real time), 60, … or max"
    )
    parser.add_argument("--duration", type=parse_duration, help="e.g. 1d; default: forever")
    parser.add_argument(
        "--port",
        choices=[s.value for s in PortState],
        default="open",
        help="initial HAN port state; a state saved in --state-dir wins",
    )
    parser.add_argument(
        "--to",
        default="pty",
        help="pty | tcp://HOST:PORT (0 = free port) | file:PATH | - (stdout) | none",
    )
    parser.add_argument(
        "--fleet", type=Path, help="TOML file of meters (see hanport.emulator.fleet)"
    )
    parser.add_argument("--control", metavar="HOST:PORT", help="serve the control API here")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="keep port states, registers and simulated time here across restarts",
    )
    parser.add_argument(
        "--list2-second", type=float, help="offset of the hourly list in seconds (Kamstrup: 5)"
    )
    # The same spelling as `hanport decode --key GUEK --auth-key GAK`, so one pair of options
    # makes and reads a capture; --guek/--gak are the emulator's first spelling, kept.
    parser.add_argument(
        "--key",
        "--guek",
        dest="guek",
        metavar="GUEK",
        type=_hex_bytes,
        help="encrypt with this encryption key, 32 hex digits (alias --guek)",
    )
    parser.add_argument(
        "--auth-key",
        "--gak",
        dest="gak",
        metavar="GAK",
        type=_hex_bytes,
        help="authentication key, 32 hex digits; needed with --key (alias --gak)",
    )
    parser.add_argument("--system-title", type=_hex_bytes, help="encrypt: 8-byte system title")


def _configs(args: argparse.Namespace) -> list[MeterConfig]:
    if (args.guek is None) != (args.gak is None):
        raise FleetError(
            "--key and --auth-key go together: encrypted frames are authenticated / "
            "--key og --auth-key må gis sammen"
        )
    if args.fleet is not None:
        return load_fleet(args.fleet)
    return [
        MeterConfig(
            brand=args.meter,
            phases=args.phases,
            three_wire=args.three_wire,
            prosumer=args.prosumer,
            seed=args.seed,
            meter_id=args.meter_id,
            metering_point_id=args.metering_point_id,
            port=PortState(args.port),
            output=args.to,
            list2_second=args.list2_second,
            guek=args.guek,
            gak=args.gak,
            system_title=args.system_title,
        ).completed()
    ]


def _start_time(
    requested: datetime | None,
    store: PortStateStore | None,
    configs: list[MeterConfig],
    *,
    speed: float | None,
) -> datetime:
    """Where the simulated clock starts: ``--start``, else where the saved meters stopped,
    else now. A meter's clock never runs backwards, so a ``--start`` before the saved time
    gives way to it (with a note: use a fresh --state-dir to replay a period).

    At speed 1 the meters keep real time, as a meter on the wall does: a restart without
    ``--start`` resumes at now, and the model counts the time it was down as consumption
    (unless the saved meters are already ahead of now, as after a faster run)."""
    stopped = resume_time(store, configs) if store is not None else None
    if stopped is not None:
        stopped = stopped.astimezone(OSLO)
    now = datetime.now(OSLO).replace(microsecond=0)
    if requested is None:
        if stopped is None:
            return now
        return max(stopped, now) if speed == 1 else stopped
    if stopped is not None and store is not None and requested < stopped:
        print(
            f"hanport emulate: the meters in {store.directory} already reached "
            f"{stopped.isoformat()}; continuing from there, as a meter's clock and registers "
            "never go back (use a new --state-dir to start earlier) / målerne har allerede nådd "
            f"{stopped.isoformat()}; fortsetter derfra",
            file=sys.stderr,
        )
        return stopped
    return requested


def _file_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _raise_file_limit() -> None:
    """Soft limit up to the hard one: each pty meter holds two descriptors and each TCP meter
    a listening socket, so a fleet of hundreds passes the usual soft limit of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _run(args: argparse.Namespace, configs: list[MeterConfig]) -> int:
    store = PortStateStore(args.state_dir) if args.state_dir else None
    start = _start_time(args.start, store, configs, speed=args.speed)
    clock = SimClock(start, args.speed)
    # Elapsed simulated time: added in UTC, as local time plus 2h across a DST change is 1h or 3h.
    end = start.astimezone(UTC) + args.duration if args.duration else None
    info = sys.stderr if any(c.output == "-" for c in configs) else sys.stdout

    def announce(line: dict[str, object]) -> None:
        print(json.dumps(line), file=info, flush=True)

    runtimes: list[MeterRuntime] = []
    control: ControlServer | None = None
    try:
        _raise_file_limit()
        for config in configs:
            try:
                runtimes.append(build_runtime(config, clock, store))
            except OSError as error:
                if error.errno != errno.EMFILE:
                    raise
                raise OSError(
                    f"{len(runtimes)} meters opened, then the process ran out of file "
                    f"descriptors (limit {_file_limit()}); raise it with `ulimit -n` or give "
                    "meters output = 'none' / tom for fildeskriptorer; øk grensen med ulimit -n"
                ) from None
        for runtime in runtimes:
            await runtime.output.start()
            announce(announce_line(runtime))
        if args.control:
            from hanport.emulator.control import ControlServer  # FastAPI only when asked for

            host, _, port = args.control.rpartition(":")
            control = ControlServer(
                {r.meter_id: r for r in runtimes}, host or "127.0.0.1", int(port)
            )
            try:
                announce({"control": await control.start()})
            except SystemExit:  # uvicorn exits when it cannot bind
                raise OSError(f"cannot serve the control API on {args.control}") from None
        clock.begin()
        # The simulated time the meters start at: a parent (the demo) keeps its clock with it.
        announce({"clock": start.isoformat()})
        meters = asyncio.gather(*(run_meter(runtime, end) for runtime in runtimes))
        # Ctrl-C and SIGTERM stop the meters in order: files flushed, sockets closed.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        stopped = asyncio.create_task(stop.wait())
        waiting: set[asyncio.Future[Any]] = {meters, stopped}
        if control is not None:
            waiting.add(control.task)
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        finished = meters.done()
        if not finished:
            meters.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await meters
        with_errors = [r for r in runtimes if r.output.dropped_bytes]
        for runtime in with_errors:
            print(
                f"{runtime.meter_id}: {runtime.output.dropped_bytes} bytes dropped, nobody read"
                f" them / {runtime.output.dropped_bytes} byte forkastet, ingen leste dem",
                file=sys.stderr,
            )
        if finished:
            meters.result()  # a meter that failed says why
        return 0
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().remove_signal_handler(signal_number)
        if control is not None:
            await control.stop()
        for runtime in runtimes:
            await runtime.output.close()


def run_emulate(args: argparse.Namespace) -> int:
    try:
        if args.control and not re.fullmatch(r"[^:]*:\d+", args.control):
            raise FleetError(f"--control {args.control!r}: write HOST:PORT, e.g. 127.0.0.1:8700")
        configs = _configs(args)
        return asyncio.run(_run(args, configs))
    except (FleetError, StateFileError, OSError, ValueError) as error:
        print(f"hanport emulate: {error}", file=sys.stderr)
        return 2
