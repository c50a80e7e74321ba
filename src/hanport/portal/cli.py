"""`hanport portal` and `hanport audit-verify`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import sys
import threading
from collections.abc import Coroutine
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hanport.portal.services.headend import HeadEnd
    from hanport.portal.services.notify import Mailer
    from hanport.portal.settings import PortalSettings

__all__ = [
    "configure_audit_verify",
    "configure_portal",
    "configure_portal_terms",
    "mailer_for",
    "portal_settings",
    "run_audit_verify",
    "run_portal",
    "run_portal_terms",
]


def _smtp(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: write HOST:PORT, e.g. 127.0.0.1:1025")
    return host, int(port)


def configure_portal(parser: argparse.ArgumentParser) -> None:
    from hanport.portal.db.engine import DEFAULT_URL

    parser.add_argument(
        "--config",
        metavar="TOML",
        help="configuration file (company, mail relay, OpenID clients, pick-up places, SLA; "
        "see docs/portal.example.toml); then HANPORT_PORTAL_* variables, then these options",
    )
    parser.add_argument(
        "--db",
        help=f"SQLAlchemy URL (default {DEFAULT_URL}; PostgreSQL: "
        "postgresql+psycopg://user@host/db)",
    )
    parser.add_argument(
        "--headend",
        metavar="URL",
        help="head-end base URL, e.g. the emulator's control interface "
        "http://127.0.0.1:8700; without it an in-memory head-end is used",
    )
    parser.add_argument(
        "--smtp",
        type=_smtp,
        metavar="HOST:PORT",
        help="SMTP relay for e-mail (TLS, login and sender in the configuration's [mail]); "
        "without a relay e-mails are printed to the console",
    )
    parser.add_argument(
        "--seed-demo",
        action="store_true",
        help="add the demo grid area (customers, staff, meters, terms)",
    )
    parser.add_argument(
        "--fleet-out",
        type=Path,
        metavar="PATH",
        help="write the demo fleet for `hanport emulate --fleet` and exit",
    )
    parser.add_argument("--host", help="HTTP address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8600)")
    parser.add_argument(
        "--staff-email",
        metavar="ADDRESS",
        help="customer service's mailbox, e-mailed when a case is escalated",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="web worker processes (default 1; the job runner runs once, in the main process)",
    )
    parser.add_argument(
        "--cookie-secure",
        choices=("always", "auto", "never"),
        help="mark the cookies Secure (and name them __Host-…): auto (default) when the "
        "request came over https, directly or as a trusted proxy's X-Forwarded-Proto says; "
        "always (https everywhere, also behind a proxy that does not say so); never",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="IP",
        help="a reverse proxy whose X-Forwarded-For and X-Forwarded-Proto are believed "
        "(repeatable; default only 127.0.0.1). Behind an untrusted proxy every customer has the "
        "proxy's address, and the per-client sign-in limit would lock them all out together; "
        "and https at the proxy is not seen, so --cookie-secure auto would not mark cookies Secure",
    )
    _sla_options(parser)


def _sla_options(parser: argparse.ArgumentParser) -> None:
    """[sla]: the head-end's retries and an order's deadline."""
    parser.add_argument(
        "--retry-base",
        type=float,
        help="first retry delay in seconds; doubles per attempt (default 30)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        help="head-end attempts before a case goes to customer service (default 5)",
    )
    parser.add_argument(
        "--sla-working-days",
        type=int,
        help="an order's deadline in Norwegian working days from the request (default 3, the "
        "regulator's guideline; 1-30)",
    )


def portal_settings(args: argparse.Namespace) -> PortalSettings:
    """The settings from --config (or $HANPORT_PORTAL_CONFIG), HANPORT_PORTAL_*, then options."""
    from hanport.portal.settings import load_settings

    host, port = args.smtp if args.smtp else (None, None)
    flags = {
        "db": args.db,
        "headend": args.headend,
        "http_host": args.host,
        "http_port": args.port,
        "workers": args.workers,
        "cookie_secure": args.cookie_secure,
        "trusted_proxies": args.trusted_proxy,
        "mail_host": host,
        "mail_port": port,
        "staff_email": args.staff_email,
        "retry_base_s": args.retry_base,
        "max_attempts": args.max_attempts,
        "sla_working_days": args.sla_working_days,
    }
    return load_settings(flags, config=args.config)


def run_portal(args: argparse.Namespace) -> int:
    from hanport.portal.seed import write_fleet_toml
    from hanport.portal.settings import ENV_CONFIG, SettingsError, env_var

    if args.fleet_out:
        print(write_fleet_toml(args.fleet_out))
        return 0
    try:
        settings = portal_settings(args)
    except SettingsError as exc:
        print(f"hanport portal: {exc}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    from hanport.portal.db.engine import DEFAULT_URL, make_engine, migrate
    from hanport.portal.jobs import JobRunner, JobSettings
    from hanport.portal.seed import seed_demo
    from hanport.portal.server import ENV_COOKIE_SECURE, ENV_DB, ENV_SECRET

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per head-end call
    db = settings.db or DEFAULT_URL
    try:
        engine = make_engine(db)
        migrate(engine)
        if args.seed_demo:
            seed_demo(engine)
            _enroll_demo_people(engine, settings)
    except SQLAlchemyError as exc:
        print(f"hanport portal: database {db}: {exc}", file=sys.stderr)
        return 2
    headend = _headend(settings, engine)
    mailer = mailer_for(settings)
    os.environ[ENV_DB] = db
    os.environ.setdefault(ENV_SECRET, secrets.token_urlsafe(32))  # shared by the workers
    os.environ[ENV_COOKIE_SECURE] = settings.cookie_secure
    if args.config:  # the workers read the same file (pick-up places, OpenID clients)
        os.environ[ENV_CONFIG] = str(Path(args.config).resolve())
    # …and the address as given or derived from --host/--port, which they do not see
    os.environ[env_var(("company", "base_url"))] = settings.base_url
    runner = JobRunner(
        engine,
        headend,
        mailer,
        JobSettings(
            backoff_base_s=settings.retry_base_s,
            max_attempts=settings.max_attempts,
            sla_working_days=settings.sla_working_days,
            staff_email=settings.staff_email,
            access_request_expire_s=settings.access_request_expire_days * 86400.0,
        ),
    )
    jobs = threading.Thread(
        target=lambda: asyncio.run(_in_background(runner.run_forever())),
        daemon=True,
        name="portal-jobs",
    )
    jobs.start()
    print(f"hanport portal: http://{settings.http_host}:{settings.http_port}/", flush=True)
    return _serve(settings)


def _serve(settings: PortalSettings) -> int:
    """The web workers, in the foreground until stopped."""
    import uvicorn

    try:
        uvicorn.run(
            "hanport.portal.server:create_from_environment",
            factory=True,
            host=settings.http_host,
            port=settings.http_port,
            workers=settings.workers,
            log_level="warning",
            # the client address the sign-in limits count, and whether the request came over
            # https (Secure cookies): the real ones, from a trusted proxy only
            proxy_headers=True,
            forwarded_allow_ips=",".join(settings.trusted_proxies or ["127.0.0.1"]),
        )
    except OSError as exc:
        print(f"hanport portal: {exc}", file=sys.stderr)
        return 2
    return 0


def _headend(settings: PortalSettings, engine: Engine) -> HeadEnd:
    """The head-end asked for; without one, an in-memory stand-in that says so (demo)."""
    from sqlalchemy import select

    from hanport.portal.db.schema import meters
    from hanport.portal.services.headend import HttpHeadEnd, InMemoryHeadEnd

    if settings.headend:
        return HttpHeadEnd(settings.headend)
    with engine.connect() as conn:
        ids = [row.meter_id for row in conn.execute(select(meters.c.meter_id))]
    print("hanport portal: no --headend; using an in-memory head-end (demo only)", file=sys.stderr)
    return InMemoryHeadEnd(ports=dict.fromkeys(ids, "closed"))


def mailer_for(settings: PortalSettings) -> Mailer:
    """The configured relay, with the company's letterhead; without a relay, the console (demo,
    said on stderr: sign-in codes are printed there)."""
    from hanport.portal.services.notify import ConsoleMailer, Letterhead, SmtpMailer

    letterhead = Letterhead(settings.company_name, settings.company_signature, settings.base_url)
    if settings.mail_host is None:
        print(
            "hanport portal: no SMTP relay (--smtp or [mail] host); e-mails (sign-in codes too) "
            "are printed here",
            file=sys.stderr,
        )
        return ConsoleMailer(settings.sender, letterhead)
    return SmtpMailer(
        settings.mail_host,
        settings.mail_port,
        sender=settings.sender,
        timeout=settings.mail_timeout_s,
        security=settings.mail_security,
        username=settings.mail_username,
        password=settings.mail_password,
        reply_to=settings.reply_to,
        ca_file=settings.mail_ca_file,
        letterhead=letterhead,
    )


def _login() -> str:
    """The operator's login; a container user without a passwd entry is named by uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


async def _in_background(work: Coroutine[Any, Any, None]) -> None:
    """Run the job runner below the web's CPU priority: a customer waiting for an answer comes
    before commands that have minutes to go. On Linux the nice value is per thread, and the
    threads the runner starts inherit it."""
    if sys.platform == "linux":
        with suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, 10)
    await work


def configure_audit_verify(parser: argparse.ArgumentParser) -> None:
    from hanport.portal.db.engine import DEFAULT_URL

    parser.add_argument("--db", default=DEFAULT_URL, help="the port service's database URL")
    parser.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        help="a head printed by an earlier run and kept outside the database: it must still "
        "be in the chain (detects a cut-off tail or a rewritten chain)",
    )


def _portal_engine(prog: str, url: str) -> Engine | None:
    """The port service's database at `url`, or None (said on stderr) when it is something else:
    commands that read it must not create an empty one."""
    from sqlalchemy import inspect

    from hanport.portal.db.engine import make_engine

    engine = make_engine(url)
    if inspect(engine).has_table("audit_head") and inspect(engine).has_table("terms_versions"):
        return engine
    engine.dispose()
    print(
        f"{prog}: {url} is not a port service database (run `hanport portal` once to create "
        "it) / ikke en database for porttjenesten",
        file=sys.stderr,
    )
    return None


def run_audit_verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from hanport.portal.services.audit import current_head, parse_head, verify_chain

    try:
        engine = _portal_engine("hanport audit-verify", args.db)
        if engine is None:
            return 2
        expect = getattr(args, "expect_head", None)
        try:
            expected = parse_head(expect) if expect else None
        except ValueError as exc:
            print(f"hanport audit-verify: --expect-head: {exc}", file=sys.stderr)
            return 2
        report = verify_chain(engine, expect_head=expected)
        head = current_head(engine)
    except SQLAlchemyError as exc:
        print(f"hanport audit-verify: database {args.db}: {exc}", file=sys.stderr)
        return 2
    if report.ok:
        print(f"audit log OK: {report.checked} entries, chain intact / revisjonslogg OK")
        print(
            f"head {head[0]}:{head[1]} (keep it outside the database; pass it to "
            "--expect-head next time / ta vare på den utenfor databasen)"
        )
        return 0
    print(
        f"audit log BROKEN at entry {report.first_bad_seq}: {report.problem} "
        f"({report.checked} entries verified before it) / revisjonsloggen er endret",
        file=sys.stderr,
    )
    return 1


#: the service's field names as the options that fill them, for one-line errors
_TERMS_OPTIONS = {
    "version": "--version",
    "text_nb": "--nb",
    "text_en": "--en",
    "text_nn": "--nn",
    "change_summary": "--summary",
    "effective_from": "--effective-from",
}


def _moment(text: str) -> datetime:
    from hanport.portal.services.terms import parse_moment

    try:
        return parse_moment(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write an ISO 8601 date and time, e.g. 2026-12-01T00:00 "
            "(Norwegian time unless it has a zone)"
        ) from None


def configure_portal_terms(parser: argparse.ArgumentParser) -> None:
    from hanport.portal.db.engine import DEFAULT_URL

    actions = parser.add_subparsers(dest="action", required=True, metavar="list|publish")
    for name, summary in (
        ("list", "list every terms version: current, scheduled and superseded"),
        ("publish", "publish a new version of the terms, now or at a later moment"),
    ):
        sub = actions.add_parser(name, help=summary, description=summary)
        sub.add_argument("--db", default=DEFAULT_URL, help="the port service's database URL")
        if name == "publish":
            sub.add_argument(
                "--version", required=True, help="new version label, e.g. 2.0 (unique)"
            )
            sub.add_argument(
                "--nb", required=True, type=Path, metavar="FILE", help="text in bokmål (UTF-8)"
            )
            sub.add_argument(
                "--en", required=True, type=Path, metavar="FILE", help="text in English (UTF-8)"
            )
            sub.add_argument(
                "--nn",
                type=Path,
                metavar="FILE",
                help="text in nynorsk (UTF-8); without it nynorsk readers read bokmål",
            )
            sub.add_argument(
                "--effective-from",
                type=_moment,
                metavar="ISO",
                help="when it takes effect (default now; never earlier); without a zone "
                "Norwegian time",
            )
            sub.add_argument(
                "--summary",
                default="",
                metavar="TEXT",
                help="what changed, shown to customers who accept again (required after the "
                "first version)",
            )


def _read_terms_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None


def run_portal_terms(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from hanport.portal.domain.sla import OSLO
    from hanport.portal.services.errors import InvalidInput
    from hanport.portal.services.terms import list_terms, publish_terms
    from hanport.portal.services.tx import utcnow

    prog = f"hanport portal-terms {args.action}"
    if args.action == "publish":
        try:
            text_nb = _read_terms_file(args.nb)
            text_en = _read_terms_file(args.en)
            text_nn = _read_terms_file(args.nn) if args.nn else ""
        except ValueError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 2
    engine = None
    try:
        engine = _portal_engine(prog, args.db)
        if engine is None:
            return 2
        if args.action == "list":
            with engine.connect() as conn:
                versions = list_terms(conn, utcnow())
            for v in versions:
                starts = v.effective_from.astimezone(OSLO).strftime("%Y-%m-%d %H:%M")
                print(
                    f"{v.version:<16} {v.status:<10} {starts}  sha256:{v.short_hash}  "
                    f"{v.publisher}  {v.change_summary}".rstrip()
                )
            if not versions:
                print("no terms published / ingen vilkår publisert")
            return 0
        # an operator at the database, named in the audit log by their login
        actor = f"cli:{_login()}"
        try:
            published = publish_terms(
                engine,
                actor,
                version=args.version,
                text_nb=text_nb,
                text_en=text_en,
                text_nn=text_nn,
                change_summary=args.summary,
                effective_from=args.effective_from,
            )
        except InvalidInput as exc:
            problems = "; ".join(
                f"{_TERMS_OPTIONS.get(field, field)}: {text}"
                for field, text in exc.field_texts("en").items()
            )
            print(f"{prog}: {problems}", file=sys.stderr)
            return 2
    except SQLAlchemyError as exc:
        print(f"{prog}: database {args.db}: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    finally:
        if engine is not None:
            engine.dispose()  # the pool's connections close now, not when collected
    starts = published.effective_from.astimezone(OSLO).strftime("%Y-%m-%d %H:%M")
    print(
        f"published terms {published.version} ({published.status}, effective {starts}) "
        f"sha256:{published.sha256} by {actor}"
    )
    return 0


def _enroll_demo_people(engine: Engine, settings: PortalSettings) -> None:
    """With ID-porten configured, the demo's people sign in by their synthetic pid."""
    customers = settings.customers_oidc
    if customers is None:
        return
    from hanport.portal.seed import DEMO_PIDS
    from hanport.portal.services.oidc import OidcSettings, enroll_pids

    enroll_pids(engine, DEMO_PIDS, OidcSettings.for_customers(customers, settings.base_url))
