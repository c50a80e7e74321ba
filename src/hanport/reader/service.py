"""The running reader: sources → hub → writer, live state, MQTT; the API on uvicorn.

Shutdown (SIGTERM, SIGINT, or every file replayed with ``exit_when_done``) stops the sources
first, then flushes everything the writer holds, then closes MQTT and the web server.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from hanport.protocol import Keys
from hanport.reader.backup import BackupSchedule
from hanport.reader.cost import CostPlan
from hanport.reader.cost_rows import hour_price, plan_from_settings
from hanport.reader.energy import HOUR, parse_local, steps_on
from hanport.reader.fuse import FuseConfig, FuseWatch
from hanport.reader.live import LiveState
from hanport.reader.loadshed import LoadShedSignal, LoadShedWebhook, PeriodLimit
from hanport.reader.mqtt.publisher import MqttPublisher
from hanport.reader.pipeline import Hub
from hanport.reader.prices.fetch import (
    PriceFetcher,
    PriceSource,
    latest_reading_day,
    price_status,
    run_prices,
)
from hanport.reader.rule_budget import QuarterCache, by_own_rule, month_figure, period_allowance
from hanport.reader.settings import ReaderSettings, SettingsError
from hanport.reader.sources import (
    SourceError,
    parse_serial_settings,
    run_file,
    run_mqtt,
    run_serial,
    run_tcp,
)
from hanport.reader.storage import queries
from hanport.reader.storage.database import open_db
from hanport.reader.storage.retention import RetentionPolicy, thin
from hanport.reader.storage.writer import Writer
from hanport.reader.tariffs.registry import Tariff, load

__all__ = ["ReaderService", "bind_socket", "split_host_port"]


def _say(message: str) -> None:
    # flushed at once: a supervisor or a test reading the pipe sees the URL immediately
    print(message, flush=True)


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        if default_port is None:
            raise SourceError(f"mangler port / missing port in {text!r} (use HOST:PORT)")
        return text, default_port
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise SourceError(f"ugyldig port / invalid port in {text!r}") from None


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: a small JSON answer must not wait for the client's
    # delayed ACK of the headers (40 ms on Linux)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(
            f"kan ikke lytte på / cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class ReaderService:
    def __init__(
        self,
        settings: ReaderSettings,
        *,
        exit_when_done: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.exit_when_done = exit_when_done
        self.log = log or _say
        self.url: str | None = None
        keys = Keys.from_hex(settings.guek, settings.gak) if settings.guek else None
        self.engine = open_db(settings.db)
        self.writer = Writer(
            self.engine,
            store_raw_frames=settings.store_raw_frames,
            flush_interval=settings.flush_interval_s,
        )
        self.hub = Hub(keys=keys)
        # the tariff chosen by name: the allowance follows its own capacity rule
        self.grid_tariff: Tariff | None = (
            load(settings.tariff_company) if settings.tariff_company else None
        )
        self._quarters = QuarterCache()
        fuse = None
        if settings.fuse_amps is not None:
            fuse = FuseWatch(
                FuseConfig(settings.fuse_amps, settings.fuse_warn_share, settings.fuse_warn_after_s)
            )
        self.live = LiveState(last_hour_lookup=self._last_hour, fuse=fuse)
        self.backups: BackupSchedule | None = None
        if settings.backup_dir:
            self.backups = BackupSchedule(
                self.engine,
                Path(settings.backup_dir),
                at=settings.backup_time,
                interval_s=settings.backup_interval_h * 3600,
                keep=settings.backup_keep,
            )
        self.hub.push_sinks += [self.writer.add, self.live.update]
        self.hub.reject_sinks.append(self.writer.add_rejected)
        self.hub.commits = self.writer  # durable sources acknowledge after the commit
        self.publisher: MqttPublisher | None = None
        if settings.mqtt_host and settings.mqtt_publish:
            self.publisher = MqttPublisher(
                settings.mqtt_host,
                settings.mqtt_port,
                username=settings.mqtt_username,
                password=settings.mqtt_password,
                base_topic=settings.mqtt_base_topic,
                discovery_prefix=settings.mqtt_discovery_prefix,
                client_id=settings.mqtt_client_id,
                discovery=settings.mqtt_discovery,
                language=settings.language,
                tariff_lookup=self._tariff,
                allowance_lookup=self._hour_limit,
                price_lookup=self._price if settings.prices_zone else None,
            )
            self.live.add_listener(self.publisher.update)
        self.webhook: LoadShedWebhook | None = None
        if settings.load_shed_webhook:
            self.webhook = LoadShedWebhook(
                settings.load_shed_webhook,
                LoadShedSignal(self._hour_limit),
                timeout_s=settings.load_shed_webhook_timeout_s,
            )
            self.live.add_listener(self.webhook.update)
        self.prices: PriceFetcher | None = None
        if settings.prices_zone and settings.prices_entsoe_token:
            self.prices = PriceFetcher(
                self.engine,
                PriceSource(
                    settings.prices_zone,
                    settings.prices_entsoe_token,
                    settings.prices_entsoe_url,
                    settings.prices_norges_bank_url,
                ),
                meter_day=lambda: latest_reading_day(self.engine),
            )

    # -- lookups the live side makes into the database ---------------------------------------
    def _last_hour(self, meter_id: str, start: int) -> tuple[float, float] | None:
        try:
            with self.engine.connect() as conn:
                return queries._hour_energy(conn, meter_id, start)
        except Exception:
            return None

    def _tariff(self, meter_id: str) -> dict[str, Any] | None:
        import datetime as dt

        from hanport.reader.energy import LOCAL_TZ

        month = dt.datetime.now(LOCAL_TZ).strftime("%Y-%m")
        own_rule = by_own_rule(self.grid_tariff)
        if own_rule is not None:
            # the figure by the tariff's own rule; its warning is the load-shed signal's
            try:
                with self.engine.connect() as conn:
                    figure = month_figure(
                        conn, meter_id, own_rule, self._meter_time(meter_id), self._quarters
                    )
            except Exception:
                return None
            return {"average_kw": figure.kw, "headroom_kw": None, "step": None,
                    "warning": False, "by_own_rule": True}  # fmt: skip
        try:
            with self.engine.connect() as conn:
                first = dt.date.fromisoformat(f"{month}-01")
                steps = steps_on(
                    first, self.settings.tariff_step_periods, self.settings.tariff_steps
                )
                rows = queries.tariff_for_month(conn, month, steps, meter_id)
        except Exception:
            return None
        return rows[0] if rows else None

    def _meter_time(self, meter_id: str) -> float:
        """The meter's time of its latest reading (its own clock decides its month), else ours."""
        latest = self.live.now(meter_id)
        at = latest[0].get("at") if latest else None
        return parse_local(at) if isinstance(at, str) else time.time()

    def _price(self, at: float) -> float | None:
        """What a kWh imported in the hour of ``at`` costs (HA's price sensor)."""
        zone = self.settings.prices_zone
        if zone is None:
            return None
        with self.engine.connect() as conn:
            return hour_price(conn, zone, self._cost_plan(), at)

    def _cost_plan(self) -> CostPlan | None:
        s = self.settings
        return plan_from_settings(
            s.tariff_company,
            s.prices_zone,
            norgespris=s.tariff_norgespris,
            holiday_home=s.tariff_holiday_home,
            vat_percent=s.tariff_vat_percent,
        )

    def _hour_limit(self, meter_id: str, at: str) -> float | PeriodLimit | None:
        """What the hour of ``at`` (the meter's local time) may import without raising the
        month's capacity step; None on the top step or when the database cannot say. With a
        tariff whose own rule is not the Norwegian stepped one, by that rule: None in a period
        that does not count, and a quarter-hour rule's limit is the running quarter-hour's."""
        day = date.fromisoformat(at[:10])  # ``at`` is the meter's local time
        steps = steps_on(day, self.settings.tariff_step_periods, self.settings.tariff_steps)
        try:
            with self.engine.connect() as conn:
                allowance = period_allowance(
                    conn, meter_id, parse_local(at), self.grid_tariff, steps, self._quarters
                )
        except Exception:
            return None
        if allowance.period_s == HOUR:
            return allowance.limit_kwh
        return PeriodLimit(allowance.limit_kwh, allowance.period_s)

    # -- tasks -------------------------------------------------------------------------------
    def _source_coroutines(self) -> Iterator[tuple[str, Any]]:
        s = self.settings
        serial_settings = parse_serial_settings(s.serial_settings)
        for path in s.serial:
            yield "live", run_serial(self.hub, path, serial_settings, log=self.log)
        for target in s.tcp:
            host, port = split_host_port(target)
            yield "live", run_tcp(self.hub, host, port)
        if s.mqtt_source:
            if not s.mqtt_host:
                raise SettingsError("--mqtt-raw trenger --mqtt-host / --mqtt-raw needs --mqtt-host")
            yield (
                "live",
                run_mqtt(
                    self.hub,
                    s.mqtt_host,
                    s.mqtt_port,
                    s.mqtt_source,
                    username=s.mqtt_username,
                    password=s.mqtt_password,
                    client_id=s.mqtt_source_client_id,
                ),
            )
        for name in s.files:
            yield "file", run_file(self.hub, Path(name), speed=s.replay_speed)

    async def _retention_loop(self) -> None:
        policy = RetentionPolicy(self.settings.raw_frames_days, self.settings.readings_days)
        while True:
            try:
                deleted = await asyncio.to_thread(thin, self.engine, policy, time.time())
                delay = 5.0 if any(n >= policy.max_rows for n in deleted.values()) else 3600.0
            except Exception:
                delay = 300.0
            await asyncio.sleep(delay)

    async def _backup_loop(self, schedule: BackupSchedule) -> None:
        while True:
            await asyncio.sleep(min(schedule.seconds_until_due(), 3600.0))
            result = await asyncio.to_thread(schedule.run_due)
            if result is not None and not result["ok"]:
                self.log(f"sikkerhetskopi feilet / backup failed: {result['error']}")

    async def run(self, stop: asyncio.Event | None = None) -> int:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        sources = list(self._source_coroutines())
        if not sources:
            raise SettingsError(
                "ingen kilde / no source: give --serial, --tcp, --mqtt-raw or --file"
            )
        source_tasks = [asyncio.create_task(coro) for _, coro in sources]
        file_tasks = [
            t for t, (kind, _) in zip(source_tasks, sources, strict=True) if kind == "file"
        ]
        writer_stop = asyncio.Event()
        writer_task = asyncio.create_task(self.writer.run(writer_stop))
        helpers = [asyncio.create_task(self._retention_loop())]
        if self.publisher is not None:
            helpers.append(asyncio.create_task(self.publisher.run()))
        if self.webhook is not None:
            helpers.append(asyncio.create_task(self.webhook.run()))
        if self.prices is not None:
            on_new = self.publisher.prices_changed if self.publisher else None
            helpers.append(asyncio.create_task(run_prices(self.prices, on_new)))
        if self.backups is not None:
            helpers.append(asyncio.create_task(self._backup_loop(self.backups)))
        server = None
        server_task = None
        if self.settings.serve_http:
            server, server_task = self._start_http()
        if self.exit_when_done and len(file_tasks) == len(source_tasks):

            async def wait_files() -> None:
                await asyncio.gather(*file_tasks, return_exceptions=True)
                stop.set()

            helpers.append(asyncio.create_task(wait_files()))
        failed: BaseException | None = None
        try:
            stop_task = asyncio.create_task(stop.wait())
            # a source that fails for good (a capture that cannot be read) ends the run
            pending = {stop_task, *source_tasks}
            while not stop.is_set():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stop_task and not task.cancelled() and task.exception():
                        failed = task.exception()
                        stop.set()
                if pending == {stop_task}:
                    if not self.exit_when_done:
                        await stop.wait()
                    break
        finally:
            for task in source_tasks:
                task.cancel()
            await asyncio.gather(*source_tasks, return_exceptions=True)
            writer_stop.set()
            await writer_task  # the final flush
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if server is not None and server_task is not None:
                server.should_exit = True
                await asyncio.gather(server_task, return_exceptions=True)
            self.engine.dispose()
        if failed is not None:
            raise failed
        return 0

    def _start_http(self) -> tuple[Any, asyncio.Task[None]]:
        # imported here: a reader without HTTP (--no-http) never loads the web stack
        import uvicorn

        from hanport.reader.web import ReaderContext, create_app

        class QuietServer(uvicorn.Server):
            """uvicorn without its own signal handling: the service owns SIGTERM and SIGINT."""

            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        ctx = ReaderContext(
            engine=self.engine,
            live=self.live,
            hub=self.hub,
            writer=self.writer,
            steps=self.settings.tariff_steps,
            step_periods=self.settings.tariff_step_periods,
            mqtt_status=self.publisher.status if self.publisher else None,
            prices_zone=self.settings.prices_zone,
            cost_plan=self._cost_plan(),
            grid_tariff=self.grid_tariff,
            price_status=partial(price_status, self.prices) if self.prices else None,
            backup_status=self.backups.status if self.backups else None,
        )
        app = create_app(ctx)
        sock = bind_socket(self.settings.http_host, self.settings.http_port)
        host, port = sock.getsockname()[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        self.url = f"http://{shown}:{port}/"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        server = QuietServer(config)
        self.log(f"hanport read: {self.url}  (API: {self.url}api/docs)")
        return server, asyncio.create_task(server.serve(sockets=[sock]))
