"""`hanport demo`: the whole system on embedded defaults in one command.

Runs the meter emulator fleet, the grid company's port service, a reader with its dashboard and a
local mailbox, each as its own `hanport` process on loopback, with all data in one folder.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

__all__ = ["configure_demo", "run_demo"]


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number / er ikke et tall (e.g. 1, 60)"
        ) from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("speed must be between 0 and 3600 / fart mellom 0 og 3600")
    return value


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("demo-data"),
        help="demo folder: databases, mail, logs (default ./demo-data); reused on restart",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=60.0,
        help="simulated seconds per real second for the meters (default 60: an hour a minute, "
        "so the hourly view fills up; 1 = real time)",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=8470,
        help="first of seven loopback ports (port service, reader, mailbox, SMTP, emulator "
        "control, local ID-porten, the company's own sign-in for staff); 0 picks free ports "
        "(default 8470)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the demo folder first and start from scratch",
    )


def run_demo(args: argparse.Namespace) -> int:
    from hanport.demo.orchestrator import DemoOptions, run

    directory: Path = args.dir
    if args.reset and directory.exists():
        import shutil

        if not (directory / "demo.json").exists() and any(directory.iterdir()):
            print(
                f"hanport demo: {directory} is not a demo folder; not deleting it / "
                "er ikke en demomappe; sletter den ikke"
            )
            return 2
        shutil.rmtree(directory)
    options = DemoOptions(directory=directory, speed=args.speed, port_base=args.port_base)
    return asyncio.run(run(options))
