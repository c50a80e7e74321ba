"""Load on the port service: customers ordering at a steady rate while others read their pages.

    .venv/bin/python bench/portal_load.py                  # 50 orders/s for 60 s, 500 customers
    .venv/bin/python bench/portal_load.py --duration 10    # a quick run of the same shape
    .venv/bin/python bench/portal_load.py --orders-only    # no page reads: the order path alone

What runs: a private PostgreSQL (started as the tests start it; HANPORT_TEST_POSTGRES_URL
points at another server), the meter emulator as the head-end with one meter per customer (as
`hanport demo` runs it), `hanport portal` with two web workers and its job runner carrying out
the orders against the emulator, and this script as the customers (bench/portal_client.py).
Half of them are signed in (a server-side session, as after the e-mailed code) and order
through the web form with its CSRF token; the other half order through the REST API with an
API key.

The schedule is open-loop: order n is due at n / rate seconds whatever the portal's answers
took, and latency runs from the moment a request was due, so a queue in the portal shows
(coordinated omission avoided). A customer orders every customers / rate seconds (10 s by
default), alternately open and close, so ports change state and the job runner has real work.
Around each order customers read pages: a web customer loads the points list 2 s and the point
page (the order form) 1 s before ordering and follows the answer's redirect to the order page;
an API customer reads the order back. That is 2 reads per order on average (3 for the web, 1
for the API): at 50 orders/s, 150 requests/s, each on its own connection.

The first --warm-up seconds of the schedule are not judged (a fresh portal compiles and prepares
its statements). Reported for the judged part: requests by kind with p50/p95/p99/max, the orders
achieved per second, failed requests by status, orders refused by the rules (HTTP 409: one in
progress, the port already open; a correct answer, counted apart and not timed), the client's own
lateness, CPU ms per order of the web workers, the job runner, PostgreSQL, the emulator and this
client, how soon after the load the job runner had carried out every command, and the CPU per order
of the whole run (warm-up included) until then: a runner that fell behind the load has its whole
share counted there. Then the same schedule (same client, rate, duration and warm-up) against a
trivial Starlette endpoint served as the portal is served (bench/bare_starlette.py), and the ratio
of the portal's order p95 to it: the absolute figures depend on the machine, the ratio much less.
Exit status 1 when the portal's order p95 misses the target, when any judged request to the portal
failed, or when any to the bare endpoint failed (then the ratio means nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO / "tests")]  # the client; the test-suite's service helpers
from portal_client import (  # noqa: E402
    LOOPBACK,
    ORDER_KINDS,
    POINTS_LIST_LEAD_S,
    Customer,
    LoadClient,
    Outcome,
    RunReport,
    is_web,
    judged,
    plan,
    read_csrf_tokens,
    report,
    run_async,
)
from services.ports import free_port  # noqa: E402
from services.postgres import PostgresServer  # noqa: E402

TARGET_P95_MS = 150.0
FIRST_SERIAL = 10_000_000  # metering points clear of the demo area's serials


@dataclass(frozen=True, slots=True)
class Verdict:
    portal: RunReport
    bare: RunReport

    @property
    def ratio(self) -> float:
        """The portal's order p95 over the bare endpoint's p95 for the same requests."""
        return self.portal.orders.p95_ms / self.bare.orders.p95_ms

    @property
    def ok(self) -> bool:
        return (
            self.portal.everything.failed == 0
            and self.bare.everything.failed == 0
            and self.portal.orders.p95_ms < TARGET_P95_MS
        )

    def text(self) -> str:
        p95 = self.portal.orders.p95_ms
        word = "meets" if p95 < TARGET_P95_MS else "MISSES"
        lines = [
            f"portal: order p95 {p95:.1f} ms {word} the {TARGET_P95_MS:.0f} ms target; "
            f"{self.ratio:.1f}× the bare Starlette endpoint's {self.bare.orders.p95_ms:.1f} ms "
            f"(all requests: {self.portal.everything.p95_ms:.1f} vs "
            f"{self.bare.everything.p95_ms:.1f} ms p95)"
        ]
        if self.portal.everything.failed:
            lines.append(f"FAILS: {self.portal.everything.failed} requests to the portal failed")
        if self.bare.everything.failed:
            lines.append(
                f"FAILS: {self.bare.everything.failed} requests to the bare endpoint failed "
                "(the ratio means nothing)"
            )
        return "\n".join(lines)


# -- the system under test ---------------------------------------------------------------------


def seed(url: str, count: int) -> tuple[list[Customer], Any]:
    """Customers with one metering point and meter each: sessions for the even ones, API keys
    for the odd ones. Returns them and the meters (for the emulator's fleet)."""
    from hanport.portal.db.engine import make_engine, migrate
    from hanport.portal.seed import DemoMeter, seed_demo
    from hanport.portal.services.api_keys import create_token
    from hanport.portal.services.sessions import start_session

    meters = tuple(
        DemoMeter(
            serial=FIRST_SERIAL + index,
            meter_id=f"57065672{FIRST_SERIAL + index:08d}",  # a Kamstrup GS1 id
            manufacturer="Kamstrup",
            model="6841131BN243101040",
            phases=3,
            street=f"Lastvegen {index}",
            customer_email=f"load{index}@example.no",
        )
        for index in range(count)
    )
    engine = make_engine(url)
    try:
        migrate(engine)
        party_ids = seed_demo(engine, meters)  # with the terms and the demo area
        customers = []
        for index, meter in enumerate(meters):
            party_id = party_ids[meter.customer_email]
            credential = (
                start_session(engine, party_id, method="bench")
                if is_web(index)
                else create_token(engine, party_id, "bench")
            )
            customers.append(Customer(meter.metering_point_id, credential))
    finally:
        engine.dispose()
    return customers, meters


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, the children it has reaped and its live descendants (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # ended meanwhile: its time is in its parent's reaped children
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total + sum(cpu_seconds(child) for child in children(pid))


def own_cpu_seconds(pid: int) -> float:
    """CPU time of one process (all its threads), without its children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


@dataclass
class CpuMeter:
    """CPU seconds of named parts, read when the judged window starts and once its last answer
    is in, per order answered in between (in a steady state the judged orders; behind
    schedule, also the warm-up's orders still queued at the start). The job runner's share is
    the work it did meanwhile, whichever orders it was for."""

    parts: dict[str, Callable[[], float]]
    #: at the window's start, at its last answer, (portal) once the job runner is done
    readings: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    #: before the first request of the schedule (warm-up included)
    before: tuple[float, dict[str, float]] | None = None

    def now(self) -> tuple[float, dict[str, float]]:
        return time.perf_counter(), {name: seconds() for name, seconds in self.parts.items()}

    def read(self) -> None:
        self.readings.append(self.now())

    def per_order(self, outcomes: list[Outcome]) -> str:
        (began, first), (ended, last) = self.readings[0], self.readings[1]
        orders = sum(1 for o in outcomes if o.kind in ORDER_KINDS and began < o.answered <= ended)
        used = {name: last[name] - first[name] for name in self.parts}
        per_order = ", ".join(f"{name} {1000 * cpu / orders:.2f}" for name, cpu in used.items())
        cores = sum(used.values()) / (ended - began)
        return f"CPU ms per order: {per_order}; together {cores:.2f} cores busy"

    def settled_per_order(self, outcomes: list[Outcome]) -> str:
        """CPU from before the first request to the last reading (taken once the job runner
        had carried out every command), per order of the whole run, warm-up included: the
        runner's share in full also when it fell behind the load and worked on after it (the
        warm-up's first compilations count too)."""
        assert self.before is not None
        first, last = self.before[1], self.readings[-1][1]
        orders = sum(1 for o in outcomes if o.kind in ORDER_KINDS)
        used = {name: last[name] - first[name] for name in self.parts}
        per_order = ", ".join(f"{name} {1000 * cpu / orders:.2f}" for name, cpu in used.items())
        total = 1000 * sum(used.values()) / orders
        return (
            "CPU ms per order, whole run (warm-up included) until the job runner was done: "
            f"{per_order}; total {total:.2f}"
        )


@contextlib.contextmanager
def running(
    command: list[str], log_path: Path, ready_url: str, what: str
) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Response]]:
    """A server process, once it answers `ready_url` (with that answer); stopped afterwards."""
    with log_path.open("wb") as log:
        # a file, not a pipe: an unread pipe fills up and stalls the process mid-benchmark
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process, wait_for_http(ready_url, process, what)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_for_http(url: str, process: subprocess.Popen[bytes], what: str) -> httpx.Response:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}; see its log")
        try:
            answer = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if answer.status_code != 200:
            raise SystemExit(f"{what} answered {url} with HTTP {answer.status_code}; see its log")
        return answer
    raise SystemExit(f"{what} did not answer {url} within a minute")


def hanport(*args: str) -> list[str]:
    return [sys.executable, "-m", "hanport.cli", *args]


def settle(url: str, load_ended: float) -> str:
    """Wait until the job runner has sent and read back every order; say when, and where the
    orders ended up."""
    from sqlalchemy import create_engine, func, select

    from hanport.portal.db.schema import orders

    engine = create_engine(url)
    waiting = ["validated", "retrying", "command_sent"]
    try:
        while time.monotonic() - load_ended < 180:
            with engine.connect() as conn:
                left = conn.execute(
                    select(func.count()).select_from(orders).where(orders.c.state.in_(waiting))
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            states = conn.execute(
                select(orders.c.state, func.count()).group_by(orders.c.state)
            ).all()
    finally:
        engine.dispose()
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states))
    after = time.monotonic() - load_ended
    verb = "had carried out every command" if left == 0 else f"still had {left} to carry out"
    return f"job runner {verb} {after:.1f} s after the load ended; orders: {counts}"


# -- the runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    rate: float
    duration: float
    warm_up: float
    customers: int
    workers: int
    logs: Path
    reads: bool = True  #: the page reads around the orders (--orders-only leaves them out)

    @property
    def judged_from(self) -> float:
        return POINTS_LIST_LEAD_S + self.warm_up


def measure(
    port: int,
    customers: list[Customer],
    terms_id: int,
    settings: Settings,
    cpu: CpuMeter,
) -> tuple[RunReport, list[Outcome]]:
    seconds = settings.warm_up + settings.duration
    schedule = plan(settings.rate, seconds, settings.customers, reads=settings.reads)
    client = LoadClient(port, customers, terms_id, reads=settings.reads)
    cpu.before = cpu.now()
    run_async(client.run(schedule, settings.judged_from, cpu.read))
    cpu.read()
    result = report(
        judged(client.outcomes, settings.judged_from, settings.duration), settings.duration
    )
    for line in result.lines():
        print(line)
    print(cpu.per_order(client.outcomes), flush=True)
    return result, client.outcomes


def run_portal(settings: Settings, postgres: Any) -> tuple[RunReport, list[Customer], int]:
    from hanport.portal.seed import fleet_toml

    url = postgres.create_database("hanport_bench")
    print(f"seeding {settings.customers} customers …", flush=True)
    customers, meters = seed(url, settings.customers)
    fleet = settings.logs / "portal_load.fleet.toml"
    fleet.write_text(fleet_toml(meters, output="none"), encoding="utf-8")
    control, port = free_port(), free_port()
    headend = f"http://{LOOPBACK}:{control}"
    with (
        running(
            hanport("emulate", "--fleet", str(fleet), "--control", f"{LOOPBACK}:{control}"),
            settings.logs / "portal_load.emulator.log",
            f"{headend}/api/meters",
            "the emulator",
        ) as (emulator, _),
        running(
            hanport(
                *("portal", "--db", url, "--headend", headend, "--port", str(port)),
                # a command the head-end failed is tried again after 1 s, not the default 30
                *("--workers", str(settings.workers), "--retry-base", "1"),
            ),
            settings.logs / "portal_load.portal.log",
            f"http://{LOOPBACK}:{port}/api/v1/terms/current",
            "the portal",
        ) as (portal, terms),
    ):
        terms_id = int(terms.json()["id"])
        customers = run_async(read_csrf_tokens(port, customers))
        cpu = portal_cpu_meter(portal.pid, postgres_pid(postgres), emulator.pid, settings.workers)
        workers = f"{settings.workers} web worker" + ("s" if settings.workers > 1 else "")
        print(f"\nportal: {workers}, job runner, PostgreSQL, emulated head-end")
        result, outcomes = measure(port, customers, terms_id, settings, cpu)
        print(settle(url, time.monotonic()), flush=True)
        cpu.read()
        print(cpu.settled_per_order(outcomes), flush=True)
    return result, customers, terms_id


def postgres_pid(postgres: Any) -> int | None:
    """The private server's main process (None for a server of HANPORT_TEST_POSTGRES_URL)."""
    if postgres.directory is None:
        return None
    return int((postgres.directory / "data" / "postmaster.pid").read_text().split()[0])


def portal_cpu_meter(portal: int, postmaster: int | None, emulator: int, workers: int) -> CpuMeter:
    parts: dict[str, Callable[[], float]] = {}
    if workers > 1:
        # the main process runs the job runner (and uvicorn's supervisor, which idles)
        parts["web workers"] = lambda: cpu_seconds(portal) - own_cpu_seconds(portal)
        parts["job runner"] = lambda: own_cpu_seconds(portal)
    else:
        parts["web worker + job runner"] = lambda: cpu_seconds(portal)
    if postmaster is not None:
        parts["PostgreSQL"] = lambda: cpu_seconds(postmaster)
    parts["emulator"] = lambda: cpu_seconds(emulator)
    parts["client"] = time.process_time
    return CpuMeter(parts)


def run_bare(settings: Settings, customers: list[Customer], terms_id: int) -> RunReport:
    port = free_port()
    bare_server = str(REPO / "bench" / "bare_starlette.py")
    with running(
        [sys.executable, bare_server, "--port", str(port), "--workers", str(settings.workers)],
        settings.logs / "portal_load.bare.log",
        f"http://{LOOPBACK}:{port}/",
        "the bare Starlette endpoint",
    ) as (bare, _):
        pid = bare.pid
        cpu = CpuMeter({"bare workers": lambda: cpu_seconds(pid), "client": time.process_time})
        print(f"\nbare Starlette endpoint: {settings.workers} workers, the same schedule")
        return measure(port, customers, terms_id, settings, cpu)[0]


def parse_settings() -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="orders per second (50)")
    parser.add_argument("--duration", type=float, default=60.0, help="judged seconds (60)")
    parser.add_argument("--warm-up", type=float, default=5.0, help="unjudged seconds first (5)")
    parser.add_argument("--customers", type=int, default=500, help="distinct customers (500)")
    parser.add_argument("--workers", type=int, default=2, help="portal web workers (2)")
    parser.add_argument(
        "--logs",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="folder for the portal's, emulator's and bare endpoint's logs (the temp folder)",
    )
    parser.add_argument(
        "--orders-only",
        dest="reads",
        action="store_false",
        help="no page reads: tells the order path's cost from the pages' (not the target's mix)",
    )
    args = parser.parse_args()
    if min(args.rate, args.duration, args.customers, args.workers) <= 0 or args.warm_up < 0:
        parser.error("--rate, --duration, --customers and --workers must be positive")
    if args.customers < 2 or args.customers / args.rate < 5:
        parser.error(
            "each customer would order every "
            f"{args.customers / args.rate:.1f} s; the job runner needs a few seconds to carry "
            "an order out (the next one meanwhile is refused): give at least 5 s "
            "(--customers ≥ 5 × --rate)"
        )
    return Settings(
        args.rate,
        args.duration,
        args.warm_up,
        args.customers,
        args.workers,
        args.logs,
        args.reads,
    )


def main() -> int:
    settings = parse_settings()
    reads = "2 reads per order" if settings.reads else "no page reads (--orders-only)"
    print(
        f"{settings.rate:g} orders/s for {settings.duration:g} s after {settings.warm_up:g} s "
        f"of warm-up, {settings.customers} customers (half web form, half API), {reads}; "
        f"target: order p95 < {TARGET_P95_MS:.0f} ms; logs in {settings.logs}",
        flush=True,
    )
    postgres = PostgresServer()
    postgres.start()
    try:
        portal, customers, terms_id = run_portal(settings, postgres)
    finally:
        postgres.stop()
    bare = run_bare(settings, customers, terms_id)
    verdict = Verdict(portal, bare)
    print("\n" + verdict.text())
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
