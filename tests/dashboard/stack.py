"""The real thing the dashboard is tested against: `hanport emulate` feeding `hanport read`.

- a Kamstrup meter's history from yesterday 00:00 until now, made by the emulator at full speed
  into a capture file and backfilled with `hanport import` (hourly bars, peaks, history);
- a live Kaifa meter (a push every 2 s, each with the meter's time) on TCP with the emulator's
  control API, read by `hanport read` over TCP, which serves the API and the dashboard on a
  free port. The reader follows the meter's clock, and the meter starts at 5 past the current
  hour (real-time speed), so its hour always has most of an hour left: a test that drives this
  hour over the tariff threshold never has to wait for a fresh hour. (Kaifa rather than Aidon:
  Aidon's frequent lists carry no time, so its clock is only known after its hourly list.)
Everything runs as subprocesses on loopback, in a temporary directory.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from services.processes import die_with_parent, read_log, stop_process

OSLO = ZoneInfo("Europe/Oslo")
HANPORT = [sys.executable, "-m", "hanport.cli"]
LIVE_SEED = 1
HISTORY_SEED = 2
#: the most extra load the emulator's control API accepts
MAX_EXTRA_LOAD_W = 100_000.0


@contextmanager
def serving_stored(db_url: str, workdir: Path) -> Iterator[str]:
    """`hanport serve` over a database: the API and dashboard without any live source."""
    with _process(
        [*HANPORT, "serve", "--db", db_url, "--host", "127.0.0.1", "--port", "0"], workdir, "serve"
    ) as (process, out):
        line = _wait_for_lines(out, 1, process, "hanport serve")[0]
        yield next(word for word in line.split() if word.startswith("http://")).rstrip("/")


@dataclass(frozen=True)
class Stack:
    url: str  # the reader, e.g. "http://127.0.0.1:41234" (no trailing slash)
    control_url: str  # the emulator's control API
    live_meter_id: str  # Kaifa, live over TCP, its clock at 5 past the current hour at start
    history_meter_id: str  # Kamstrup, backfilled from yesterday 00:00
    hour_limit_kwh: float  # the first capacity step's upper limit (no earlier peaks live)
    workdir: Path
    db_url: str

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def set_port(self, state: str) -> None:
        """Open or close the live meter's HAN port ("open" | "closed")."""
        response = httpx.put(
            f"{self.control_url}/api/meters/{self.live_meter_id}/port",
            json={"port": state},
            timeout=10,
        )
        response.raise_for_status()

    def set_extra_load(self, watts: float) -> None:
        response = httpx.put(
            f"{self.control_url}/api/meters/{self.live_meter_id}/load",
            json={"extra_import_w": watts},
            timeout=10,
        )
        response.raise_for_status()


def _wait_for_lines(
    path: Path, count: int, process: subprocess.Popen[bytes], what: str
) -> list[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        if len(lines) >= count:
            return lines
        if process.poll() is not None:
            break
        time.sleep(0.05)
    errors = read_log(path.with_suffix(".err"))
    raise RuntimeError(f"{what} did not start:\n{read_log(path)}\n{errors}")


@contextmanager
def _process(
    args: list[str], workdir: Path, name: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    out = workdir / f"{name}.out"
    with out.open("wb") as stdout, (workdir / f"{name}.err").open("wb") as stderr:
        command = [*die_with_parent(), *args]
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=workdir)
    try:
        yield process, out
    finally:
        stop_process(process)


def _live_start() -> datetime:
    """The live meter's simulated start: 5 past the current (local) hour."""
    return datetime.now(OSLO).replace(minute=5, second=0, microsecond=0)


def _hour_limit_kwh(live_start: datetime) -> float:
    """A first-step limit the live household stays under without extra load, in the meter's
    first hour and the next, so the warning must come from the load the test adds and from
    nothing else."""
    from hanport.emulator.load import HouseholdLoad

    load = HouseholdLoad(LIVE_SEED, phases=3)
    hour = live_start.astimezone(UTC).replace(minute=0)
    peak_w = 0.0
    for start in (hour, hour + timedelta(hours=1)):
        samples = load.hour(start, 2.0, 1800).active_w
        peak_w = max(peak_w, *(sum(values) for values in zip(*samples, strict=True)))
    return float(math.ceil(peak_w / 1000) + 2)


def _backfill(workdir: Path, db_url: str) -> None:
    now = datetime.now(OSLO).replace(second=0, microsecond=0, tzinfo=None)
    # Today needs whole hours: just after local midnight, the meter's clock runs to 02:00.
    now = max(now, now.replace(hour=2, minute=0))
    start = (now - timedelta(days=1)).replace(hour=0, minute=0)
    minutes = int((now - start).total_seconds() // 60) - 1
    capture = workdir / "history.bin"
    emulate = [
        *HANPORT, "emulate", "--meter", "kamstrup", "--seed", str(HISTORY_SEED), "--port", "open",
        "--start", start.isoformat(timespec="minutes"), "--duration", f"{minutes}m",
        "--speed", "max", "--to", f"file:{capture}",
    ]  # fmt: skip
    _run(emulate, workdir)
    _run([*HANPORT, "import", str(capture), "--db", db_url, "--raw-frames"], workdir)


#: the day of the database `stored_on_another_day` makes: not the server's day
ANOTHER_DAY = "2026-01-09"


def stored_on_another_day(workdir: Path) -> str:
    """A database (URL) with three hours of a Kamstrup meter on ANOTHER_DAY, 08:00-11:00."""
    capture = workdir / "another-day.bin"
    db_url = f"sqlite:///{workdir / 'another-day.sqlite3'}"
    emulate = [
        *HANPORT, "emulate", "--meter", "kamstrup", "--seed", str(HISTORY_SEED), "--port", "open",
        "--start", f"{ANOTHER_DAY}T08:00", "--duration", "3h", "--speed", "max",
        "--to", f"file:{capture}",
    ]  # fmt: skip
    _run(emulate, workdir)
    _run([*HANPORT, "import", str(capture), "--db", db_url], workdir)
    return db_url


def _run(command: list[str], workdir: Path) -> None:
    done = subprocess.run(
        command, check=False, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    db_url = f"sqlite:///{workdir / 'reader.sqlite3'}"
    _backfill(workdir, db_url)
    live_start = _live_start()
    limit = _hour_limit_kwh(live_start)
    config = workdir / "reader.toml"
    config.write_text(
        f'[tariff]\nsteps = [[0, {limit}, 415], [{limit}, "inf", 1250]]\n'
        f'[fuse]\namps = 63\n[backup]\ndir = "{workdir / "backups"}"\n'
    )
    with ExitStack() as stack:
        emulator, emulator_out = stack.enter_context(
            _process(
                [
                    *HANPORT, "emulate", "--meter", "kaifa", "--seed", str(LIVE_SEED),
                    "--start", live_start.replace(tzinfo=None).isoformat(timespec="minutes"),
                    "--speed", "1", "--port", "open", "--to", "tcp://127.0.0.1:0",
                    "--control", "127.0.0.1:0",
                ],
                workdir,
                "emulator",
            )
        )  # fmt: skip
        lines = _wait_for_lines(emulator_out, 2, emulator, "emulator")
        announced = [json.loads(line) for line in lines]
        meter = next(line for line in announced if "meter_id" in line)
        control = next(line["control"] for line in announced if "control" in line)
        tcp = meter["stream"].removeprefix("tcp://")
        reader, reader_out = stack.enter_context(
            _process(
                [
                    *HANPORT, "read", "--tcp", tcp, "--db", db_url, "--config", str(config),
                    "--host", "127.0.0.1", "--port", "0", "--no-discovery",
                ],
                workdir,
                "reader",
            )
        )  # fmt: skip
        line = _wait_for_lines(reader_out, 1, reader, "reader")[0]
        url = line.split()[2].rstrip("/")
        meters = httpx.get(f"{url}/api/meters").json()
        history_id = next(m["meter_id"] for m in meters if m["manufacturer"] == "Kamstrup")
        result = Stack(
            url, control.rstrip("/"), meter["meter_id"], history_id, limit, workdir, db_url
        )
        deadline = time.monotonic() + 20
        while not any(n["meter_id"] == meter["meter_id"] for n in result.api("/api/now")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no live reading from the emulator:\n{read_log(reader_out)}")
            time.sleep(0.2)
        yield result
