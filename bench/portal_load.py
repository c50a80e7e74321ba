"""Load on the port service: many customers ordering the HAN port open at the same moment.

    .venv/bin/python bench/portal_load.py                      # 200 customers, throwaway PostgreSQL
    .venv/bin/python bench/portal_load.py --customers 50 --rounds 2
    .venv/bin/python bench/portal_load.py --db postgresql+psycopg://user@host/db  # existing DB

What runs: `hanport portal` in its own process over PostgreSQL (uvicorn, two web workers by
default — one per core of the machine this was written on — and the job runner executing the
orders against the in-memory head-end), and this script as 200 concurrent clients, each opening
its own connection. Each round, every customer places one order through the REST API
(POST /api/v1/metering-points/{id}/orders with an API key, the same service path as the web
form: key check, validation, authorisation, terms, order row, timeline, audit chain, receipt
e-mail in the outbox, read back). Orders arriving together are stored in batches (group commit,
hanport.portal.web.intake). A round uses a fresh metering point per customer and starts when the
job runner has sent the commands of the round before. First one unjudged warm-up burst (a fresh
portal's first burst costs about twice the CPU: statements not yet compiled and prepared), then
one round with the customers arriving evenly over --spread seconds (a steady stream), then
--rounds bursts with all of them at the same instant. Reported per round: orders per second,
latency p50/p95/max of the accepted orders (HTTP 201, from connecting to the last byte) against
the 200 ms p95 target, failed requests by status, and the CPU time per order of the web workers,
the job runner, PostgreSQL and this client. The exit status is 1 when any order failed or any
judged round missed the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 200.0


def seed(url: str, customers: int, rounds: int) -> list[tuple[str, list[str]]]:
    """Customers with `rounds` metering points each and an API key; returns (key, points)."""
    from sqlalchemy import delete, insert

    from hanport.portal.db.engine import make_engine, migrate
    from hanport.portal.db.schema import (
        api_tokens,
        contracts,
        inserted_id,
        metering_points,
        meters,
        parties,
        port_states,
    )
    from hanport.portal.domain.gsrn import make_gsrn
    from hanport.portal.seed import seed_demo
    from hanport.portal.web.tokens import token_hash

    engine = make_engine(url)
    migrate(engine)
    seed_demo(engine)  # terms, staff, demo area
    now = datetime.now(UTC)
    people = []
    with engine.begin() as conn:
        first = 10_000_000  # clear of the demo area's serials
        conn.execute(delete(api_tokens))
        for index in range(customers):
            party_id = inserted_id(
                conn.execute(
                    insert(parties).values(
                        kind="person",
                        display_name=f"Load Customer {index}",
                        email=f"load{index}-{secrets.token_hex(3)}@example.no",
                        lang="nb",
                        role="customer",
                        created_at=now,
                    )
                )
            )
            key = "hp_" + secrets.token_urlsafe(24)
            conn.execute(
                insert(api_tokens).values(
                    party_id=party_id,
                    name="bench",
                    created_at=now,
                    expires_at=now + timedelta(days=1),
                    token_hash=token_hash(key),
                )
            )
            points = [make_gsrn(first + index * rounds + round_) for round_ in range(rounds)]
            for mpid in points:
                conn.execute(
                    insert(metering_points).values(
                        id=mpid,
                        street=f"Lastvegen {index}",
                        postcode="6800",
                        city="Førde",
                        grid_area="bench",
                        status="active",
                    )
                )
                conn.execute(
                    insert(meters).values(
                        meter_id=mpid[-16:],
                        serial=mpid[-8:],
                        manufacturer="Kamstrup",
                        model="6841121BN243101040",
                        han_capable=True,
                        metering_point_id=mpid,
                        installed_from=date(2020, 1, 1),
                    )
                )
                conn.execute(
                    insert(contracts).values(
                        party_id=party_id, metering_point_id=mpid, valid_from=date(2020, 1, 1)
                    )
                )
                conn.execute(
                    insert(port_states).values(
                        metering_point_id=mpid, state="closed", since=now, push_seen=False
                    )
                )
            people.append((key, points))
    engine.dispose()
    return people


async def burst(
    port: int,
    people: list[tuple[str, list[str]]],
    round_: int,
    terms_id: int,
    spread_s: float = 0.0,
) -> tuple[list[tuple[float, int]], float]:
    """Every customer orders once: all at the same instant, or arriving evenly over spread_s.

    Each customer connects and sends one request over plain asyncio streams: a Python HTTP
    client library costs about a millisecond of this machine's CPU per request, which would be
    measured as the portal's latency. The time runs from connecting to the last byte of the
    answer. Returns (latency ms, HTTP status) per customer and the round's wall time."""
    body = json.dumps(
        {
            "action": "open",
            "terms_version_id": terms_id,
            "terms_accepted": True,
            "declaration": "inside_home",
            "module_option": "have",
        }
    ).encode()
    start_gate = asyncio.Event()

    async def customer(index: int, key: str, points: list[str]) -> tuple[float, int]:
        request = (
            f"POST /api/v1/metering-points/{points[round_]}/orders HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + body
        await start_gate.wait()
        if spread_s:
            await asyncio.sleep(spread_s * index / len(people))
        began = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        finally:
            writer.close()
        return (time.perf_counter() - began) * 1000, status

    async def guarded(index: int, key: str, points: list[str]) -> tuple[float, int]:
        try:
            return await asyncio.wait_for(customer(index, key, points), 60)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError):
            return 0.0, 0  # no (readable) answer at all (status 0): a failure like any non-201

    tasks = [asyncio.create_task(guarded(i, k, p)) for i, (k, p) in enumerate(people)]
    await asyncio.sleep(0.2)  # every task is waiting at the gate
    began = time.perf_counter()
    start_gate.set()
    results = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return list(results), elapsed


def cpu_seconds(root: int) -> float:
    """CPU time of a process, its live children and the children it has reaped (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid, parent = int(entry.name), int(fields[1])
        if pid == root:
            total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
        elif parent == root:
            total += sum(int(f) for f in fields[11:13]) / tick
    return total


def own_cpu_seconds(pid: int) -> float:
    """CPU time of one process (all its threads), without its children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def settle(url: str, since_s: float, timeout_s: float = 180.0) -> float:
    """Wait until no order awaits the head-end; seconds since the round began."""
    from sqlalchemy import create_engine, func, select

    from hanport.portal.db.schema import orders

    engine = create_engine(url)
    waiting = ["validated", "retrying", "command_sent"]
    began = time.perf_counter() - since_s
    try:
        while time.perf_counter() - began < timeout_s:
            with engine.connect() as conn:
                left = conn.execute(
                    select(func.count()).select_from(orders).where(orders.c.state.in_(waiting))
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.2)
        return time.perf_counter() - began
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Verdict:
    label: str
    p95_ms: float  #: of the accepted orders; inf when none was accepted
    failed: int
    total: int

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.p95_ms < TARGET_P95_MS

    def text(self) -> str:
        if self.failed:
            word = f"FAILS ({self.failed} of {self.total} orders not accepted)"
        else:
            word = "meets" if self.ok else "MISSES"
        return f"{self.label}: p95 {self.p95_ms:.1f} ms {word} the {TARGET_P95_MS:.0f} ms target"


def summarise(label: str, results: list[tuple[float, int]], elapsed: float) -> tuple[str, Verdict]:
    """The round's table line(s) and verdict. Only accepted orders (201) count: a fast error
    must not pass for a fast order, and one failed order fails the round."""
    ms = [latency for latency, status in results if status == 201]
    failures = Counter(status for _, status in results if status != 201)
    failed = sum(failures.values())
    if ms:
        p95 = percentile(ms, 0.95)
        line = (
            f"{label:>12} {len(ms):>7} {failed:>6} {len(ms) / elapsed:>9.1f} "
            f"{statistics.median(ms):>7.1f} {p95:>7.1f} {max(ms):>7.1f}"
        )
    else:
        p95 = float("inf")
        line = f"{label:>12} {0:>7} {failed:>6}  no order accepted"
    if failures:
        detail = ", ".join(f"{n}× HTTP {code}" for code, n in sorted(failures.items()))
        line += f"\n{'':>12} failed: {detail} (status 0: no answer)"
    return line, Verdict(label, p95, failed, len(results))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="PostgreSQL URL (default: start a throwaway server)")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="bursts: all customers at once")
    parser.add_argument(
        "--spread",
        type=float,
        default=10.0,
        help="first one round with the customers arriving evenly over this many seconds (0: skip)",
    )
    parser.add_argument("--workers", type=int, default=2, help="portal web workers")
    parser.add_argument(
        "--no-warm-up",
        dest="warm_up",
        action="store_false",
        help="judge the very first burst of a fresh portal too (cold caches)",
    )
    parser.add_argument(
        "--portal-log",
        type=Path,
        default=Path(tempfile.gettempdir()) / "portal_load.portal.log",
        help="where the portal's stderr goes (read it when a round fails)",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests"))  # the test-suite's service helpers
    from services.ports import free_port
    from services.postgres import PostgresServer

    server = None
    url = args.db
    if url is None:
        server = PostgresServer()
        server.start()
        url = server.create_database("hanport_bench")
    # the server's main process: its CPU (and its children's) is PostgreSQL's share
    postmaster = (
        int((server.directory / "data" / "postmaster.pid").read_text().split()[0])
        if server is not None and server.directory is not None
        else 0
    )
    paced = 1 if args.spread > 0 else 0
    warm = 1 if args.warm_up else 0
    print(
        f"seeding {args.customers} customers × {args.rounds + paced + warm} metering points …",
        flush=True,
    )
    people = seed(url, args.customers, args.rounds + paced + warm)
    port = free_port()
    log_file = args.portal_log.open("wb")
    print(f"portal stderr: {args.portal_log}")
    portal = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hanport.cli",
            "portal",
            "--db",
            url,
            "--port",
            str(port),
            "--retry-base",
            "1",
            "--workers",
            str(args.workers),
        ],
        stdout=subprocess.DEVNULL,
        # a file, not a pipe: an unread pipe fills up and stalls the portal mid-benchmark
        stderr=log_file,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                terms = httpx.get(f"{base}/api/v1/terms/current", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the portal did not start")
        print(f"portal: {args.workers} web worker(s); {args.customers} concurrent customers")
        print(
            f"{'round':>12} {'orders':>7} {'failed':>6} {'orders/s':>9} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'max ms':>7}"
        )
        # a portal that has been running has its statements compiled and prepared and its
        # code paths warm; one burst that is not judged gives a fresh one the same start
        plan = [("warm-up", 0.0)] if warm else []
        plan += [(f"over {args.spread:g} s", args.spread)] if paced else []
        plan += [(f"burst {r + 1}", 0.0) for r in range(args.rounds)]
        verdicts = []
        settled = []
        for round_, (label, spread) in enumerate(plan):
            portal_cpu, pg_cpu = cpu_seconds(portal.pid), cpu_seconds(postmaster)
            jobs_cpu = own_cpu_seconds(portal.pid)
            client_cpu = time.process_time()
            results, elapsed = asyncio.run(burst(port, people, round_, terms["id"], spread))
            line, verdict = summarise(label, results, elapsed)
            print(line, flush=True)
            jobs_delta = own_cpu_seconds(portal.pid) - jobs_cpu if args.workers > 1 else 0.0
            used = {
                "portal web workers": cpu_seconds(portal.pid) - portal_cpu - jobs_delta,
                "job runner": jobs_delta,
                "PostgreSQL": cpu_seconds(postmaster) - pg_cpu if postmaster else 0.0,
                "this client": time.process_time() - client_cpu,
            }
            print(
                f"{'':>12} CPU per order: "
                + ", ".join(f"{who} {1000 * cpu / len(people):.2f} ms" for who, cpu in used.items())
                + ("" if args.workers > 1 else " (one process: the job runner is in the web's)"),
                flush=True,
            )
            if label != "warm-up":
                verdicts.append(verdict)
            # each round meets an idle portal: the job runner has sent the commands of the
            # round before (otherwise rounds seconds apart would measure a 400-order rush)
            settled.append((label, settle(url, elapsed)))
        for label, seconds in settled:
            print(f"{label}: the job runner had carried out every command {seconds:.1f} s later")
        for verdict in verdicts:
            print(verdict.text())
        return 0 if all(v.ok for v in verdicts) else 1
    finally:
        portal.terminate()
        portal.wait(timeout=10)
        log_file.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
