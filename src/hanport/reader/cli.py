"""Commands of the reader: read, import, serve, export, backup, restore, reconcile (see
hanport.cli).

hanport read --serial /dev/ttyUSB0          # the one documented command: read, store, serve
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hanport.reader.settings import ReaderSettings, SettingsError, load_settings

if TYPE_CHECKING:
    from hanport.reader.cost import CostPlan

__all__ = [
    "configure_backup",
    "configure_export",
    "configure_import",
    "configure_read",
    "configure_reconcile",
    "configure_restore",
    "configure_serve",
    "run_backup",
    "run_export",
    "run_import",
    "run_read",
    "run_reconcile",
    "run_restore",
    "run_serve",
    "serve_worker_app",
]


def _fail(message: str) -> int:
    print(f"hanport: {message}", file=sys.stderr)
    return 2


def _cannot_open(exc: Exception) -> int:
    """A database that cannot be opened or written at start (a URL of no known kind, a path
    that is no file, a full disk): one line saying why, exit 2, no traceback."""
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return _fail(f"kan ikke bruke databasen / cannot use the database: {detail}")


def _start_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, OSError)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="postgresql://… , sqlite:///path or a file path (default: SQLite in "
        "$XDG_DATA_HOME/hanport/reader.sqlite3)",
    )
    parser.add_argument("--config", metavar="TOML", help="configuration file (see docs)")


def _add_http(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", dest="http_host", help="HTTP address (default 127.0.0.1)")
    parser.add_argument("--port", dest="http_port", type=int, help="HTTP port (default 8080)")


def _settings(args: argparse.Namespace, names: tuple[str, ...]) -> ReaderSettings:
    flags = {name: getattr(args, name, None) for name in names}
    return load_settings(flags, config=getattr(args, "config", None))


# -- read -------------------------------------------------------------------------------------
_READ_FLAGS = (
    "db",
    "http_host",
    "http_port",
    "serial",
    "serial_settings",
    "tcp",
    "files",
    "replay_speed",
    "mqtt_source",
    "mqtt_source_client_id",
    "mqtt_host",
    "mqtt_port",
    "mqtt_username",
    "mqtt_password",
    "mqtt_base_topic",
    "mqtt_discovery_prefix",
    "mqtt_discovery",
    "mqtt_publish",
    "mqtt_client_id",
    "store_raw_frames",
    "serve_http",
    "guek",
    "gak",
    "language",
)


def configure_read(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Example: hanport read --serial /dev/ttyUSB0   (then open the printed URL)"
    src = parser.add_argument_group("sources (several allowed; one meter or more each)")
    src.add_argument("--serial", action="append", metavar="DEVICE", help="serial port")
    src.add_argument(
        "--serial-settings",
        metavar="SETTINGS",
        help="auto (default: detect baud/parity), kamstrup (2400 8N1), aidon/kaifa (2400 8E1), "
        "sweden (115200 8N1) or e.g. 2400-8E1",
    )
    src.add_argument("--tcp", action="append", metavar="HOST:PORT", help="TCP byte stream")
    src.add_argument(
        "--mqtt-raw",
        dest="mqtt_source",
        metavar="TOPIC",
        help="MQTT topic filter carrying raw frames (binary or hex), e.g. 'hanport/raw/#'",
    )
    src.add_argument("--mqtt-raw-client-id", dest="mqtt_source_client_id", metavar="ID")
    src.add_argument("--file", dest="files", action="append", metavar="CAPTURE", help="replay")
    src.add_argument(
        "--speed",
        dest="replay_speed",
        type=float,
        metavar="X",
        help="replay at X × recorded pace (default: as fast as possible)",
    )
    src.add_argument(
        "--exit-when-done", action="store_true", help="stop when every file is replayed"
    )
    _add_db(parser)
    _add_http(parser)
    parser.add_argument(
        "--no-http", dest="serve_http", action="store_const", const=False, help="no web server"
    )
    parser.add_argument(
        "--no-raw-frames",
        dest="store_raw_frames",
        action="store_const",
        const=False,
        help="do not keep the raw frames that decoded fine",
    )
    mqtt = parser.add_argument_group("MQTT / Home Assistant")
    mqtt.add_argument("--mqtt-host", metavar="HOST", help="broker to publish to (and read from)")
    mqtt.add_argument("--mqtt-port", type=int, metavar="PORT")
    mqtt.add_argument("--mqtt-username")
    mqtt.add_argument("--mqtt-password")
    mqtt.add_argument("--mqtt-base-topic", metavar="TOPIC", help="default hanport")
    mqtt.add_argument("--mqtt-discovery-prefix", metavar="PREFIX", help="default homeassistant")
    mqtt.add_argument("--no-discovery", dest="mqtt_discovery", action="store_const", const=False)
    mqtt.add_argument(
        "--no-publish",
        dest="mqtt_publish",
        action="store_const",
        const=False,
        help="only read raw frames from the broker; publish no state",
    )
    mqtt.add_argument("--mqtt-client-id", metavar="ID")
    parser.add_argument("--guek", metavar="HEX", help="encryption key of an encrypted meter")
    parser.add_argument("--gak", metavar="HEX", help="authentication key")
    parser.add_argument("--language", choices=("nb", "en"), help="names in Home Assistant")


def run_read(args: argparse.Namespace) -> int:
    from hanport.protocol import HanError
    from hanport.reader.service import ReaderService
    from hanport.reader.sources import SourceError
    from hanport.reader.storage.database import DatabaseError

    try:
        settings = _settings(args, _READ_FLAGS)
        try:
            service = ReaderService(settings, exit_when_done=args.exit_when_done)
        except _start_errors() as exc:
            return _cannot_open(exc)
        return asyncio.run(service.run())
    except (SettingsError, SourceError, DatabaseError, HanError) as exc:
        return _fail(str(exc))


# -- import -----------------------------------------------------------------------------------
def configure_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", type=Path, help="capture file (binary or hex)")
    _add_db(parser)
    parser.add_argument(
        "--raw-frames", action="store_true", help="also store every raw frame (large)"
    )
    parser.add_argument("--guek", metavar="HEX")
    parser.add_argument("--gak", metavar="HEX")


def run_import(args: argparse.Namespace) -> int:
    from hanport.protocol import HanError, Keys
    from hanport.reader.importer import import_capture, terminal_progress
    from hanport.reader.sources import SourceError
    from hanport.reader.storage.database import DatabaseError, open_db

    try:
        settings = _settings(args, ("db", "guek", "gak"))
        keys = Keys.from_hex(settings.guek, settings.gak) if settings.guek else None
        engine = open_db(settings.db)
        result = import_capture(
            engine,
            args.capture,
            keys=keys,
            store_raw_frames=args.raw_frames,
            progress=terminal_progress(f"import {args.capture.name}"),
        )
        engine.dispose()
    except (SettingsError, SourceError, DatabaseError, HanError) as exc:
        return _fail(str(exc))
    print(
        f"importert / imported {result.readings_written} readings from {result.frames_ok} "
        f"frames ({result.rejected} rejected) in {result.seconds:.1f} s "
        f"({result.frames_per_s:.0f} frames/s)"
    )
    return 0 if result.frames_ok or not result.rejected else 1


# -- serve ------------------------------------------------------------------------------------
#: `hanport serve --workers N`: each worker process rebuilds the app from the same flags
_SERVE_FLAGS = ("db", "config", "http_host", "http_port")
_SERVE_ENV = "HANPORT_SERVE_FLAGS"
MAX_WORKERS = 32


def configure_serve(parser: argparse.ArgumentParser) -> None:
    _add_db(parser)
    _add_http(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="web server processes (default 1); the database is only read, so N processes "
        "answer N requests at once on N CPUs",
    )


def _serve_app(args: argparse.Namespace, settings: ReaderSettings) -> Any:
    """The reader's web app over the stored database of ``settings`` (no live source)."""
    from hanport.reader.storage.database import open_db
    from hanport.reader.tariffs.registry import load
    from hanport.reader.web import ReaderContext, create_app

    context = ReaderContext(
        engine=open_db(settings.db, create=False),
        steps=settings.tariff_steps,
        step_periods=settings.tariff_step_periods,
        prices_zone=settings.prices_zone,
        cost_plan=_cost_plan(settings),
        # the allowance follows the chosen tariff's capacity rule, also without a zone
        grid_tariff=load(settings.tariff_company) if settings.tariff_company else None,
    )
    return create_app(context)


def _cost_plan(settings: ReaderSettings) -> CostPlan | None:
    """The chosen tariff and zone as a CostPlan; None without both."""
    from hanport.reader.cost_rows import plan_from_settings

    return plan_from_settings(
        settings.tariff_company,
        settings.prices_zone,
        norgespris=settings.tariff_norgespris,
        holiday_home=settings.tariff_holiday_home,
        vat_percent=settings.tariff_vat_percent,
    )


def serve_worker_app() -> Any:
    """uvicorn's app factory in each worker of ``hanport serve --workers N`` (N > 1)."""
    import json
    import os

    args = argparse.Namespace(**json.loads(os.environ[_SERVE_ENV]))
    return _serve_app(args, _settings(args, _SERVE_FLAGS))


def run_serve(args: argparse.Namespace) -> int:
    from hanport.reader.service import bind_socket
    from hanport.reader.storage.database import DatabaseError, open_db

    if not 1 <= args.workers <= MAX_WORKERS:
        return _fail(f"--workers må være 1-{MAX_WORKERS} / must be 1-{MAX_WORKERS}")
    try:
        settings = _settings(args, _SERVE_FLAGS)
        if args.workers == 1:
            app = _serve_app(args, settings)
        else:  # the workers open it; refuse a bad database before starting them
            app = None
            open_db(settings.db, create=False).dispose()
        sock = bind_socket(settings.http_host, settings.http_port)
    except (SettingsError, DatabaseError) as exc:
        return _fail(str(exc))
    except _start_errors() as exc:
        return _cannot_open(exc)
    import uvicorn

    host, port = sock.getsockname()[:2]
    print(f"hanport serve: http://{host}:{port}/  (API: http://{host}:{port}/api/docs)", flush=True)
    if app is not None:
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        asyncio.run(server.serve(sockets=[sock]))
        return 0
    return _serve_workers(args, sock)


def _serve_workers(args: argparse.Namespace, sock: Any) -> int:
    """N processes on one listening socket (uvicorn's supervisor; SIGTERM stops them all)."""
    import json
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[_SERVE_ENV] = json.dumps({name: getattr(args, name, None) for name in _SERVE_FLAGS})
    config = uvicorn.Config(
        f"{__name__}:serve_worker_app",
        factory=True,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )
    Multiprocess(config, sockets=[sock]).run()
    return 0


# -- export -----------------------------------------------------------------------------------
def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("readings", "hours", "days", "months"))
    _add_db(parser)
    parser.add_argument("--from", dest="from_", metavar="TIME", help="local YYYY-MM-DD[THH:MM]")
    parser.add_argument("--to", metavar="TIME", help="exclusive end (default: now)")
    parser.add_argument("--meter-id", help="one meter (required for readings with several)")
    parser.add_argument("-o", "--output", type=Path, help="file (default: standard output)")


def run_export(args: argparse.Namespace) -> int:
    import csv
    import time

    from sqlalchemy import func, select

    from hanport.reader import api
    from hanport.reader.api import ReaderContext
    from hanport.reader.storage import queries
    from hanport.reader.storage.database import DatabaseError, open_db
    from hanport.reader.storage.schema import readings

    try:
        settings = _settings(args, ("db",))
        engine = open_db(settings.db, create=False)
        start = queries.parse_time(args.from_) if args.from_ else 0.0
        end = queries.parse_time(args.to) if args.to else time.time() + 86400
        rows: list[dict[str, Any]] = []
        if args.what == "readings":
            with engine.connect() as conn:
                ids = [args.meter_id] if args.meter_id else queries.meter_ids(conn)
                if not args.from_:
                    start = conn.execute(select(func.min(readings.c.at))).scalar() or 0.0
                for mid in ids:
                    rows += queries.readings_between(conn, mid, start, end, max_points=10**12)
            header = list(rows[0]) if rows else []
        else:  # as /api/hours… answers them: with cost, and a header when there are no rows
            context = ReaderContext(
                engine=engine, prices_zone=settings.prices_zone, cost_plan=_cost_plan(settings)
            )
            rows = api.energy_between(context, args.what, start, end, args.meter_id)
            header = list(api.energy_columns(context, args.what))
        engine.dispose()
    except (SettingsError, DatabaseError, queries.QueryError) as exc:
        return _fail(str(exc))
    out = args.output.open("w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        if header:
            writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    except BrokenPipeError:  # `hanport export … | head` is fine
        sys.stderr.close()
        return 0
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"{len(rows)} rows → {args.output}", file=sys.stderr)
    return 0


# -- backup / restore -------------------------------------------------------------------------
def configure_backup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="backup file (e.g. reader-2026-01-01.jsonl.gz)")
    _add_db(parser)


def run_backup(args: argparse.Namespace) -> int:
    from hanport.reader.backup import BackupError, backup
    from hanport.reader.storage.database import DatabaseError, open_db

    try:
        settings = _settings(args, ("db",))
        engine = open_db(settings.db, create=False)
        try:
            counts = backup(engine, args.output)
        finally:
            engine.dispose()  # a refused backup leaves no connection open either
    except (SettingsError, DatabaseError, BackupError, OSError) as exc:
        return _fail(str(exc))
    print(
        f"sikkerhetskopi / backup {args.output}: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    return 0


def configure_restore(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backup", type=Path, help="a file written by `hanport backup`")
    _add_db(parser)


def run_restore(args: argparse.Namespace) -> int:
    from hanport.reader.backup import BackupError, restore
    from hanport.reader.storage.database import DatabaseError, open_db

    try:
        settings = _settings(args, ("db",))
        engine = open_db(settings.db)
        try:
            counts = restore(engine, args.backup)
        finally:
            engine.dispose()  # a refused restore leaves no connection open either
    except (SettingsError, DatabaseError, BackupError) as exc:
        return _fail(str(exc))
    print("gjenopprettet / restored: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


# -- reconcile ----------------------------------------------------------------------------------
def configure_reconcile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", type=Path, help="hourly values from Elhub or the grid company (CSV)"
    )
    parser.add_argument("--meter-id", help="the meter to compare (needed when there are several)")
    parser.add_argument(
        "--tolerance-kwh",
        type=float,
        default=0.01,
        help="flag hours whose difference is larger (default 0.01 kWh)",
    )
    parser.add_argument(
        "--replace-estimated",
        action="store_true",
        help="book the official value for each hour the reader estimated (marked official; "
        "days and months recomputed; running it again changes nothing)",
    )
    _add_db(parser)


def _reader_hours(engine: Any, meter_id: str | None, start: int, end: int) -> tuple[str, Any]:
    from sqlalchemy import select

    from hanport.reader.storage.schema import hours

    with engine.connect() as conn:
        known_ids = sorted({r[0] for r in conn.execute(select(hours.c.meter_id).distinct())})
        ids = known_ids if meter_id is None else [m for m in known_ids if m == meter_id]
        if len(ids) != 1:
            known = ", ".join(known_ids) or "ingen / none"
            raise SettingsError(f"velg måler / choose a meter with --meter-id (known: {known})")
        rows = conn.execute(
            select(hours.c.start, hours.c.active_energy_import_kwh, hours.c.estimated).where(
                hours.c.meter_id == ids[0], hours.c.start >= start, hours.c.start <= end
            )
        ).all()
    return ids[0], {int(r[0]): (float(r[1]), bool(r[2])) for r in rows}


def run_reconcile(args: argparse.Namespace) -> int:
    from hanport.reader.energy import local_iso
    from hanport.reader.reconcile import (
        ReconcileError,
        compare,
        parse_official,
        replace_estimated,
        store_official,
        three_peaks,
    )
    from hanport.reader.storage.database import DatabaseError, open_db

    if not 0 <= args.tolerance_kwh < 1000:
        return _fail(f"ugyldig / invalid --tolerance-kwh {args.tolerance_kwh!r} (0–1000)")
    try:
        layout, official = parse_official(args.file.read_bytes())
        settings = _settings(args, ("db",))
        engine = open_db(settings.db, create=False)
        try:
            meter_id, booked = _reader_hours(
                engine, args.meter_id, official[0].start, official[-1].start
            )
            replaced: list[int] = []
            with engine.begin() as conn:  # kept for /api/reconcile and the History page
                store_official(conn, meter_id, layout, official)
                if args.replace_estimated:
                    replaced = replace_estimated(conn, meter_id, layout, official)
            if replaced:  # compare what is booked now
                _, booked = _reader_hours(engine, meter_id, official[0].start, official[-1].start)
        finally:
            engine.dispose()
    except OSError as exc:
        return _fail(f"kan ikke lese / cannot read {args.file}: {exc.strerror or exc}")
    except (ReconcileError, SettingsError, DatabaseError) as exc:
        return _fail(str(exc))
    checks = compare(official, booked, args.tolerance_kwh)
    flagged = [c for c in checks if c.flagged]
    print(
        f"{args.file} ({layout}): {len(checks)} timer / hours, måler / meter {meter_id}, "
        f"{len(flagged)} avvik over / differ by more than {args.tolerance_kwh:g} kWh"
    )
    if args.replace_estimated:
        print(f"  {len(replaced)} estimerte timer erstattet med offisielle / estimated hours "
              "replaced by the official values")  # fmt: skip
        for start in replaced:
            print(f"  {local_iso(start)}  erstattet / replaced")
    for check in flagged:
        reader = "–" if check.reader_kwh is None else f"{check.reader_kwh:.3f}"
        note = " (estimert / estimated)" if check.reader_estimated else ""
        print(f"  {local_iso(check.start)}  offisiell / official {check.official_kwh:.3f}  "
              f"leser / reader {reader}{note}")  # fmt: skip
    ours = three_peaks((start, kwh) for start, (kwh, _est) in booked.items())
    for month, peaks in three_peaks((h.start, h.kwh) for h in official).items():
        theirs = ", ".join(f"{kwh:.3f}" for _s, kwh in peaks)
        mine = ", ".join(f"{kwh:.3f}" for _s, kwh in ours.get(month, []))
        print(f"  {month} topp 3 / top 3: offisiell / official {theirs}; leser / reader {mine}")
    return 1 if flagged else 0
