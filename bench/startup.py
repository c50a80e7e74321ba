"""Start-up of the reader's commands: modules imported and wall-clock time, before and after.

    .venv/bin/python bench/startup.py [--runs 7] [--before REV]

Times, as a user runs them: ``hanport decode --help``, ``hanport decode FILE`` (an hour of
Kamstrup frames made by the emulator), ``hanport read --help`` and ``hanport read --no-http
--file FILE --exit-when-done`` (a reader that stores an hour in an existing database and
exits). For each: the modules imported (``python -X importtime``), whether a heavy stack was
among them, and the median wall and CPU time of ``--runs`` runs. With ``--before REV`` the same
commands also run from the source tree of git revision REV (``git archive``), so both columns
come from the same run on the same load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: stacks a command should load only when it uses them
HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "pydantic", "aiomqtt")


def commands(capture: Path, workdir: Path) -> dict[str, list[str]]:
    db = workdir / "read.sqlite3"
    return {
        "decode --help": ["decode", "--help"],
        "decode FILE": ["decode", str(capture)],
        "read --help": ["read", "--help"],
        "read --no-http --file FILE": ["read", "--no-http", "--file", str(capture),
                                       "--exit-when-done", "--db", str(db)],
    }  # fmt: skip


def run(args: list[str], source: Path | None, importtime: bool = False) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stderr of ``python -m hanport.cli ARGS`` (from ``source``
    if given). CPU time (user + system) suffers less than wall time from a busy machine."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    flags = ["-X", "importtime"] if importtime else []
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [sys.executable, *flags, "-m", "hanport.cli", *args]
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, check=False)  # fmt: skip
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"hanport {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return elapsed, cpu, result.stderr


def measure(args: list[str], source: Path | None, runs: int, database: Path) -> str:
    """'N modules, median wall and CPU ms, heavy: …' for one command.

    One unmeasured run first: it warms the file cache and creates the reader's database, so the
    reader is measured as it starts every day, on an existing database.
    """
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()
    run(args, source)
    _, _, trace = run(args, source, importtime=True)
    lines = [line for line in trace.splitlines() if line.startswith("import time:")]
    modules = [line.rsplit("|", 1)[1].strip() for line in lines[1:]]  # [0] is the header
    heavy = sorted({name for name in modules if name.split(".")[0] in HEAVY and "." not in name})
    times = [run(args, source)[:2] for _ in range(runs)]
    wall = statistics.median(t[0] for t in times) * 1000
    cpu = statistics.median(t[1] for t in times) * 1000
    heavy_text = ", ".join(heavy) or "none"
    return f"{len(modules):4d} modules  {wall:6.0f} ms wall  {cpu:6.0f} ms CPU  heavy: {heavy_text}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", metavar="REV", help="also measure this git revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hanport-startup-") as tmp:
        workdir = Path(tmp)
        capture = workdir / "hour.bin"
        subprocess.run([sys.executable, "-m", "hanport.cli", "emulate", "--start",
                        "2025-01-01T00:00", "--speed", "max", "--duration", "1h", "--to",
                        f"file:{capture}"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        sources: dict[str, Path | None] = {"now": None}
        if args.before:
            before = workdir / "before"
            before.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "src"],
                                     check=True, capture_output=True).stdout  # fmt: skip
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            sources = {f"before ({args.before})": before / "src", "now": None}
        print(f"load average: {os.getloadavg()}; median of {args.runs} runs each")
        for label, argv in commands(capture, workdir).items():
            for name, source in sources.items():
                figures = measure(argv, source, args.runs, workdir / "read.sqlite3")
                print(f"hanport {label:28s} {name:18s} {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
