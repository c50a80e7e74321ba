"""`hanport demo`: mailbox, emulated meters, port service and reader, wired together on loopback.

Start order follows the dependencies: the mailbox (the port service mails through it), the
emulator fleet (the port service's head-end and the reader's streams), the port service, then
the reader. Stop order is the reverse, so the reader flushes its last readings while the meters
still exist. Everything lives in one demo folder, which is why a second start continues the first:

    demo-data/
      demo.json          simulated clock and ports of the last run
      demo.lock          held while a demo runs in the folder (its pid inside)
      fleet.toml         the emulator's meters (rewritten on every start)
      emulator/          port states, registers and clock of the meters (survive a restart)
      portal.sqlite      the port service: customers, orders, audit log
      reader.sqlite      the reader: readings, hours, days
      mail/              every e-mail sent, as .eml files
      logs/              one log per part
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from hanport.demo.fleet import DemoMeter, demo_fleet, role, write_fleet_file
from hanport.demo.mailbox import Mailbox, create_mailbox_app, start_smtp_server
from hanport.demo.supervisor import ChildFailed, ChildProcess, hanport_command, wait_for_http
from hanport.emulator.load import OSLO

__all__ = ["DemoOptions", "DemoPorts", "DemoRun", "run"]

LOOPBACK = "127.0.0.1"
PART_NAMES = ("portal", "reader", "mailbox", "smtp", "control", "idporten", "company")
#: the OpenID provider standing in for ID-porten (citizens) and, run a second time, for the
#: company's own provider (its staff), from the repository's tests/oidc (npm ci there;
#: `make demo` does it); without it, codes by e-mail
PROVIDER_SCRIPT = Path(__file__).resolve().parents[3] / "tests" / "oidc" / "provider.mjs"
_DEMO_CLIENT_SECRET = "demo-only-client-secret"
_DEMO_PID_HASH_KEY = "demo-only-pid-hash-key"
#: the company's own provider's pages (where staff sign in), not ID-porten's
COMPANY_PROVIDER_TITLE = "Nettselskapet – innlogging for ansatte"
COMPANY_PROVIDER_INTRO = "Firmakontoer for ansatte (demo) – ingen ekte personer."


class DemoError(RuntimeError):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class DemoPorts:
    portal: int
    reader: int
    mailbox: int
    smtp: int
    control: int
    idporten: int
    company: int  # the company's own OpenID provider, where staff sign in

    @classmethod
    def from_base(cls, base: int) -> DemoPorts:
        """``base`` … ``base+6``; base 0 picks free ports (tests, several demos at once)."""
        if base == 0:
            return cls(*(_free_port() for _ in PART_NAMES))
        ports = cls(*(base + offset for offset in range(len(PART_NAMES))))
        for name, port in zip(PART_NAMES, ports.as_tuple(), strict=True):
            if not _port_is_free(port):
                raise DemoError(
                    f"port {port} ({name}) is in use by another program; use --port-base to "
                    f"pick other ports. / Port {port} ({name}) er i bruk av et annet program; "
                    "velg andre porter med --port-base."
                )
        return ports

    def as_tuple(self) -> tuple[int, ...]:
        return (
            self.portal,
            self.reader,
            self.mailbox,
            self.smtp,
            self.control,
            self.idporten,
            self.company,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers themselves bind: connections in TIME_WAIT after a stop (the browser's
        # to the dashboard) do not make the port busy; only a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def hold_folder_lock(directory: Path) -> int:
    """Lock ``demo.lock`` for this process, or say that another demo runs in the folder.

    The kernel drops the lock when the process ends, however it ends: a killed demo never
    leaves a stale lock behind. Returns the descriptor to keep open while the demo runs."""
    descriptor = os.open(directory / "demo.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 32).decode("ascii", "replace").strip() or "?"
        os.close(descriptor)
        raise DemoError(
            f"another demo is running in {directory} (pid {holder}); stop it with Ctrl-C, or "
            f"use --dir and --port-base for a second one. / En annen demo kjører i {directory} "
            f"(pid {holder}); stopp den med Ctrl-C, eller bruk --dir og --port-base."
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, str(os.getpid()).encode("ascii"))
    return descriptor


@dataclass(frozen=True, slots=True)
class DemoOptions:
    directory: Path
    speed: float = 60.0
    port_base: int = 8470
    startup_timeout: float = 90.0


@dataclass
class DemoState:
    """``demo.json``: the simulated clock a restart continues from, and this run's addresses
    (written at start, so scripts and tests can find a demo started with ``--port-base 0``)."""

    simulated_clock: datetime | None = None
    urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> DemoState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            clock = data.get("simulated_clock")
            return cls(datetime.fromisoformat(clock) if clock else None, dict(data.get("urls", {})))
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, AttributeError) as error:
            raise DemoError(
                f"{path} is damaged ({error}); remove it to start the clock afresh / "
                f"{path} er skadet; slett den for å starte klokka på nytt"
            ) from error

    def save(self, path: Path) -> None:
        clock = self.simulated_clock.isoformat() if self.simulated_clock else None
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"simulated_clock": clock, "urls": self.urls}, indent=2), encoding="utf-8"
        )
        temporary.replace(path)


class _QuietServer(uvicorn.Server):
    # The demo handles Ctrl-C itself and stops the parts in order; uvicorn must not take it.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class DemoRun:
    """One run of the demo; ``start()``, then ``wait()`` until stopped, then ``stop()``."""

    options: DemoOptions
    out: TextIO = field(default_factory=lambda: sys.stdout)
    ports: DemoPorts | None = None
    meters: list[DemoMeter] = field(default_factory=list)
    streams: dict[str, str] = field(default_factory=dict)
    children: list[ChildProcess] = field(default_factory=list)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    _smtp: asyncio.Server | None = None
    _web: _QuietServer | None = None
    _web_task: asyncio.Task[None] | None = None
    _market: _QuietServer | None = None
    _market_task: asyncio.Task[None] | None = None
    _started_at: float = 0.0
    _clock_at_start: datetime | None = None
    _folder_lock: int | None = None
    _with_idporten: bool = False

    # -- paths -------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self.options.directory

    def url(self, part: str, path: str = "/") -> str:
        assert self.ports is not None
        return f"http://{LOOPBACK}:{getattr(self.ports, part)}{path}"

    def urls(self) -> dict[str, str]:
        assert self.ports is not None
        return {
            "portal": self.url("portal"),
            "reader": self.url("reader"),
            "mailbox": self.url("mailbox"),
            "control": self.url("control"),
            "smtp": f"smtp://{LOOPBACK}:{self.ports.smtp}",
        }

    # -- start -------------------------------------------------------------------------------

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "logs").mkdir(exist_ok=True)
        self._folder_lock = hold_folder_lock(self.directory)
        state = DemoState.load(self.directory / "demo.json")
        self.ports = DemoPorts.from_base(self.options.port_base)
        # Until the emulator announces its clock (where its meters stopped, or now on a first
        # run), demo.json shows the last run's.
        self._clock_at_start = state.simulated_clock or datetime.now(OSLO).replace(microsecond=0)
        self._started_at = asyncio.get_running_loop().time()
        DemoState(self._clock_at_start, self.urls()).save(self.directory / "demo.json")
        await self._start_mailbox()
        await self._start_emulator()
        await self._start_idporten()
        await self._start_portal()
        await self._start_reader()

    async def _start_mailbox(self) -> None:
        assert self.ports is not None
        mailbox = Mailbox(self.directory / "mail")
        self._smtp = await start_smtp_server(mailbox, LOOPBACK, self.ports.smtp)
        config = uvicorn.Config(
            create_mailbox_app(mailbox),
            host=LOOPBACK,
            port=self.ports.mailbox,
            log_level="warning",
            lifespan="off",
        )
        self._web = _QuietServer(config)
        self._web_task = asyncio.create_task(self._web.serve(), name="mailbox-web")
        await wait_for_http(self.url("mailbox", "/api/messages"), timeout=15)

    async def _start_emulator(self) -> None:
        assert self.ports is not None and self._clock_at_start is not None
        planned = demo_fleet()
        fleet_path = write_fleet_file(self.directory / "fleet.toml", planned)
        announced: dict[str, dict[str, Any]] = {}
        everyone_announced = asyncio.Event()
        clock_running = asyncio.Event()
        emulator_clock: list[datetime] = []

        def on_line(line: str) -> None:
            try:
                entry = json.loads(line)
            except ValueError:
                return
            if isinstance(entry, dict) and "clock" in entry:
                emulator_clock.append(datetime.fromisoformat(str(entry["clock"])))
                clock_running.set()
            if isinstance(entry, dict) and "stream" in entry and "meter_id" in entry:
                announced[str(entry["meter_id"])] = entry
                if len(announced) >= len(planned):
                    everyone_announced.set()

        child = ChildProcess(
            "emulator",
            hanport_command(
                "emulate",
                "--fleet",
                str(fleet_path),
                "--control",
                f"{LOOPBACK}:{self.ports.control}",
                "--state-dir",
                str(self.directory / "emulator"),
                "--speed",
                f"{self.options.speed:g}",
                # No --start: the emulator's state directory knows where its meters stopped
                # (demo.json can only be later, which left a gap in every meter's readings),
                # and a first run starts now.
            ),
            self.directory / "logs" / "emulator.log",
            on_line=on_line,
        )
        await self._launch(child)
        await self._wait_until(everyone_announced, child, "did not announce every meter")
        await wait_for_http(self.url("control", "/api/meters"), child, self.options.startup_timeout)
        # The meters' clock is the demo's: after a kill demo.json may lag behind where the
        # meters stopped, and they never go back, so the emulator says where it started.
        await self._wait_until(clock_running, child, "did not start its clock")
        self._clock_at_start = emulator_clock[0]
        self._started_at = asyncio.get_running_loop().time()
        DemoState(self._clock_at_start, self.urls()).save(self.directory / "demo.json")
        by_id = {meter.meter_id: meter for meter in planned}
        for meter_id, entry in announced.items():
            meter = by_id.get(meter_id)
            if meter is None:
                raise child.failure(f"announced meter {meter_id}, which {fleet_path} lacks")
            self.meters.append(meter)
            self.streams[meter_id] = str(entry["stream"])

    async def _start_idporten(self) -> None:
        """The local OpenID providers: ID-porten with the demo's synthetic citizens, and the
        company's own provider with its staff member (each lists only its own people)."""
        from hanport.portal.seed import DEMO_PARTIES, DEMO_PIDS, STAFF_EMAIL

        installed = PROVIDER_SCRIPT.with_name("node_modules").joinpath("oidc-provider").is_dir()
        if shutil.which("node") is None or not installed:
            return  # sign-in by e-mailed code only
        citizens = [
            {"pid": pid, "name": DEMO_PARTIES[email][0]} for email, pid in DEMO_PIDS.items()
        ]
        await self._start_provider("idporten", "hanport-demo", "/signin/oidc", citizens, {})
        staff = {
            "sub": "kundeservice",
            "name": DEMO_PARTIES[STAFF_EMAIL][0],
            "email": STAFF_EMAIL,
            "groups": ["hanport-staff"],
        }
        pages = {"OIDC_TITLE": COMPANY_PROVIDER_TITLE, "OIDC_INTRO": COMPANY_PROVIDER_INTRO}
        await self._start_provider(
            "company", "hanport-demo-staff", "/staff/signin/oidc", [staff], pages
        )
        self._with_idporten = True

    async def _start_provider(
        self,
        part: str,
        client_id: str,
        signin_path: str,
        people: list[dict[str, Any]],
        pages: dict[str, str],
    ) -> None:
        """One provider (``part``) with the portal's client ``client_id`` and ``people``."""
        assert self.ports is not None
        portal = self.url("portal", "").rstrip("/")
        client = {
            "client_id": client_id,
            "client_secret": _DEMO_CLIENT_SECRET,
            "redirect_uris": [f"{portal}{signin_path}/callback"],
            "post_logout_redirect_uris": [f"{portal}/signin"],
            "logout_uri": f"{portal}{signin_path}/backchannel-logout",
        }
        child = ChildProcess(
            part,
            ["node", str(PROVIDER_SCRIPT)],
            self.directory / "logs" / f"{part}.log",
            env={
                "OIDC_PORT": str(getattr(self.ports, part)),
                "OIDC_CLIENTS": json.dumps([client]),
                "OIDC_PEOPLE": json.dumps(people),
                **pages,
            },
        )
        await self._launch(child)
        await wait_for_http(
            self.url(part, "/.well-known/openid-configuration"),
            child,
            self.options.startup_timeout,
        )

    def _portal_env(self) -> dict[str, str]:
        """The portal's [company] base_url and, with the local provider, its [oidc] clients."""
        env = {"HANPORT_PORTAL_COMPANY_BASE_URL": self.url("portal", "").rstrip("/")}
        if self._with_idporten:
            issuer = self.url("idporten", "").rstrip("/")
            env |= {
                "HANPORT_PORTAL_OIDC_CUSTOMERS_ISSUER": issuer,
                "HANPORT_PORTAL_OIDC_CUSTOMERS_CLIENT_ID": "hanport-demo",
                "HANPORT_PORTAL_OIDC_CUSTOMERS_CLIENT_SECRET": _DEMO_CLIENT_SECRET,
                "HANPORT_PORTAL_OIDC_CUSTOMERS_PID_HASH_KEY": _DEMO_PID_HASH_KEY,
                "HANPORT_PORTAL_OIDC_STAFF_ISSUER": self.url("company", "").rstrip("/"),
                "HANPORT_PORTAL_OIDC_STAFF_CLIENT_ID": "hanport-demo-staff",
                "HANPORT_PORTAL_OIDC_STAFF_CLIENT_SECRET": _DEMO_CLIENT_SECRET,
            }
        return env

    async def _start_portal(self) -> None:
        assert self.ports is not None
        child = ChildProcess(
            "portal",
            hanport_command(
                "portal",
                "--db",
                f"sqlite:///{(self.directory / 'portal.sqlite').resolve()}",
                "--headend",
                self.url("control", "").rstrip("/"),
                "--smtp",
                f"{LOOPBACK}:{self.ports.smtp}",
                "--seed-demo",
                "--host",
                LOOPBACK,
                "--port",
                str(self.ports.portal),
            ),
            self.directory / "logs" / "portal.log",
            env=self._portal_env(),
        )
        await self._launch(child)
        await wait_for_http(self.url("portal"), child, self.options.startup_timeout)

    async def _start_market(self) -> dict[str, str]:
        """Stand-in ENTSO-E and Norges Bank for the reader's day-ahead prices (no internet), and
        the grid tariff and zone the reader prices the hours with."""
        from hanport.emulator.market import market_app

        def market_clock() -> datetime:
            # the market publishes by the meters' clock: their day's prices, and the next
            # day's from 13:00 on it, as the real one does by the real clock
            return (self.simulated_now() or datetime.now(UTC)).astimezone(UTC)

        port = _free_port()
        config = uvicorn.Config(
            market_app(market_clock),
            host=LOOPBACK,
            port=port,
            log_level="warning",
            lifespan="off",
        )
        self._market = _QuietServer(config)
        self._market_task = asyncio.create_task(self._market.serve(), name="market")
        base = f"http://{LOOPBACK}:{port}"
        rates = f"{base}/api/data/EXR/B.EUR.NOK.SP"
        await wait_for_http(f"{rates}?startPeriod=2026-01-01&endPeriod=2026-01-02", timeout=15)
        return {
            # Elvia serves Oslo (NO1): with a tariff and a zone the reader shows what power costs
            "HANPORT_TARIFF_COMPANY": "elvia-2026",  # the current one (reader.tariffs)
            "HANPORT_PRICES_ZONE": "NO1",
            "HANPORT_ENTSOE_TOKEN": "demo",
            "HANPORT_ENTSOE_URL": f"{base}/api",
            "HANPORT_NORGES_BANK_URL": rates,
        }

    async def _start_reader(self) -> None:
        assert self.ports is not None
        market_env = await self._start_market()
        sources: list[str] = []
        for meter in self.meters:
            sources += ["--tcp", self.streams[meter.meter_id].removeprefix("tcp://")]
        child = ChildProcess(
            "reader",
            hanport_command(
                "read",
                *sources,
                "--db",
                f"sqlite:///{(self.directory / 'reader.sqlite').resolve()}",
                "--host",
                LOOPBACK,
                "--port",
                str(self.ports.reader),
            ),
            self.directory / "logs" / "reader.log",
            env=market_env,
        )
        await self._launch(child)
        await wait_for_http(self.url("reader", "/api/health"), child, self.options.startup_timeout)

    async def _launch(self, child: ChildProcess) -> None:
        self.children.append(child)
        await child.start()

    async def _wait_until(self, event: asyncio.Event, child: ChildProcess, what: str) -> None:
        waiter = asyncio.create_task(event.wait())
        exited = asyncio.create_task(child.wait())
        done, _ = await asyncio.wait(
            {waiter, exited},
            timeout=self.options.startup_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        if exited in done:
            raise child.failure(f"exited with code {exited.result()} ({what})")
        exited.cancel()
        if waiter not in done:
            raise child.failure(f"{what} within {self.options.startup_timeout:.0f} s")

    # -- run and stop ------------------------------------------------------------------------

    async def wait(self) -> ChildProcess | None:
        """Until Ctrl-C (None) or until a part stops on its own (that part)."""
        stopping = asyncio.create_task(self.stop_requested.wait())
        exits = {asyncio.create_task(child.wait()): child for child in self.children}
        done, _ = await asyncio.wait({stopping, *exits}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopping, *exits):
            task.cancel()
        for task, child in exits.items():
            if task in done:
                return child
        return None

    def simulated_now(self) -> datetime | None:
        if self._clock_at_start is None:
            return None
        elapsed = asyncio.get_running_loop().time() - self._started_at
        # Elapsed time is added in UTC: local time plus an hour across a DST change is not an
        # hour later.
        reached = self._clock_at_start.astimezone(UTC) + timedelta(
            seconds=elapsed * self.options.speed
        )
        return reached.astimezone(OSLO).replace(microsecond=0)

    async def stop(self) -> None:
        # Read before the parts stop: the meters' clock ends when the emulator is told to stop,
        # not when the reader and port service after it have stopped too.
        reached = self.simulated_now()
        for child in reversed(self.children):
            await child.stop()
        if self._web is not None and self._web_task is not None:
            self._web.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._web_task
        if self._market is not None and self._market_task is not None:
            self._market.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._market_task
        if self._smtp is not None:
            self._smtp.close()
            await self._smtp.wait_closed()
        if self.ports is not None:
            DemoState(reached, self.urls()).save(self.directory / "demo.json")
        if self._folder_lock is not None:
            os.close(self._folder_lock)  # closing releases the flock
            self._folder_lock = None

    # -- what the user sees ------------------------------------------------------------------

    def _signin_help(self, who: str, customers: int, staff_email: str) -> str:
        if not self._with_idporten:
            return (
                "Logg inn / Sign in (koden kommer i innboksen / the code arrives in the mailbox):\n"
                f"  kunde / customer:          {who}  (eller en av / or any of {customers} below)\n"
                f"  kundeservice / staff:      {staff_email}"
            )
        from hanport.portal.seed import DEMO_PARTIES, DEMO_PIDS

        people = "\n".join(
            f"    {DEMO_PARTIES[email][0]:<16} {pid}  ({email})" for email, pid in DEMO_PIDS.items()
        )
        return f"""Logg inn med ID-porten (lokal test-ID-porten {self.url("idporten")}):
Sign in with ID-porten (a local stand-in); synthetic test people (month + 80, nobody real):
{people}
  kundeservice / staff: "Ansatte: logg inn med firmakontoen din" → Kundeservice Demo
    i nettselskapets egen innlogging / at the company's own provider {self.url("company")}
  (engangskode på e-post finnes fortsatt / a code by e-mail still works: {staff_email})"""

    def _first_step(self, who: str, point: str) -> str:
        """Try 1: sign in as the first point's customer (``who``, an e-mail address) — through
        ID-porten by name when it runs and knows them, else with a code by e-mail."""
        from hanport.portal.seed import DEMO_PARTIES, DEMO_PIDS

        if self._with_idporten and who in DEMO_PIDS:
            name = DEMO_PARTIES[who][0]
            return (
                f"Logg inn på HAN-tjenesten med ID-porten som {name} og bestill åpning av "
                f"HAN-porten på {point}.\n     Sign in to the port service through ID-porten as "
                f"{name} and order the HAN port of {point} open."
            )
        return (
            f"Logg inn på HAN-tjenesten som {who} og bestill åpning av HAN-porten på {point}.\n"
            f"     Sign in to the port service as {who} and order the HAN port of {point} open."
        )

    def customers(self) -> dict[str, str]:
        """Each meter's customer now, from the portal's database (a move names the new one)."""
        from sqlalchemy import create_engine
        from sqlalchemy.exc import SQLAlchemyError

        from hanport.portal.seed import current_customers

        today = (self._clock_at_start or datetime.now(OSLO)).date()
        engine = create_engine(f"sqlite:///{(self.directory / 'portal.sqlite').resolve()}")
        try:
            with engine.connect() as conn:
                return current_customers(conn, (m.meter_id for m in self.meters), today)
        except SQLAlchemyError as error:
            raise ChildFailed(f"the portal's database cannot be read: {error}") from error
        finally:
            engine.dispose()

    def banner(self) -> str:
        from hanport.portal.seed import STAFF_EMAIL

        holders = self.customers()
        customers = sorted(set(holders.values()))
        first = self.meters[0] if self.meters else None
        meter_lines = "\n".join(
            f"    {m.meter_id}  {m.metering_point_id}  {holders.get(m.meter_id, '-'):<18} {role(m)}"
            for m in self.meters
        )
        clock = self._clock_at_start.isoformat(timespec="minutes") if self._clock_at_start else ""
        who = holders.get(first.meter_id, "-") if first else "-"
        point = first.metering_point_id if first else "-"
        step_1 = self._first_step(who, point)
        return f"""
hanport demo kjører / is running   (mappe / folder: {self.directory})

  Nettselskapets HAN-tjeneste / Port service   {self.url("portal")}
  Kundeservice / Customer service (back office) {self.url("portal", "/staff")}
  Leser og dashbord / Reader and dashboard      {self.url("reader")}
  E-post (lokal innboks) / Mailbox              {self.url("mailbox")}
  Målernes styring / Emulator control (API)     {self.url("control", "/api/meters")}

{self._signin_help(who, len(customers), STAFF_EMAIL)}

Målere / Meters (simulert klokke / simulated clock {clock}, {self.options.speed:g}× fart/speed):
{meter_lines}

Prøv / Try:
  1. {step_1}
  2. Se dashbordet: måleren sender innen sekunder. / Watch the dashboard: data within seconds.
  3. Bekreftelsen ligger i innboksen. / The confirmation is in the mailbox.
  4. Steng porten igjen: dataene stopper. / Close the port again: the data stops.

Ctrl-C stopper alt; neste `hanport demo` fortsetter der du slapp.
Ctrl-C stops everything; the next `hanport demo` continues where you left off.
"""


async def run(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run until Ctrl-C/SIGTERM; 0 after a clean stop, 1 when a part failed."""
    import signal

    demo = DemoRun(options, out)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, demo.stop_requested.set)
    try:
        try:
            print("hanport demo starter / is starting …", file=out, flush=True)
            start = asyncio.create_task(demo.start())
            stopping = asyncio.create_task(demo.stop_requested.wait())
            done, _ = await asyncio.wait({start, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if start not in done:
                start.cancel()
                with contextlib.suppress(asyncio.CancelledError, ChildFailed):
                    await start
                print("stoppet / stopped", file=out)
                return 0
            stopping.cancel()
            start.result()
            print(demo.banner(), file=out, flush=True)
            failed = await demo.wait()
            if failed is not None:
                code = failed.process.returncode if failed.process else None
                print(str(failed.failure(f"stopped on its own (exit code {code})")), file=out)
                return 1
            print("\nstopper / stopping …", file=out, flush=True)
            return 0
        finally:
            await demo.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    except (ChildFailed, DemoError) as error:
        print(f"hanport demo: {error}", file=sys.stderr)
        return 1
