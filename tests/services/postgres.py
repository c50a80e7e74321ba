"""A private PostgreSQL server (initdb in a temporary directory) and fresh databases on it.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to the
``postgres`` system user, and initdb and the server run under that user (Popen's ``user=``).
When ``HANPORT_TEST_POSTGRES_URL`` is set (libpq or SQLAlchemy URL of a superuser or a role with
CREATEDB), that server is used instead and nothing is started.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .ports import LOOPBACK, ServiceStartError, free_port
from .processes import die_with_parent, missing, read_log, service_directory, stop_process

__all__ = [
    "ENV_URL",
    "PostgresServer",
    "database_name",
    "find_postgres_bin",
    "libpq_url",
    "sqlalchemy_url",
]

ENV_URL = "HANPORT_TEST_POSTGRES_URL"
SYSTEM_USER = "postgres"
_database_numbers = itertools.count(1)


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy) → ``postgresql://…`` (libpq, psql, psycopg)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` → ``postgresql+psycopg://…`` for SQLAlchemy with psycopg 3."""
    return "postgresql+psycopg://" + libpq_url(url).split("://", 1)[1]


def database_name(url_or_name: str) -> str:
    """The database's name in a libpq or SQLAlchemy URL (a bare name is returned as it is)."""
    if "://" not in url_or_name:
        return url_or_name
    return urlsplit(libpq_url(url_or_name)).path.lstrip("/")


def find_postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, or None."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        return None
    newest = max(candidates, key=lambda path: int(Path(path).parent.parent.name.split(".")[0]))
    return Path(newest).parent


@dataclass
class _RunAs:
    uid: int | None
    gid: int | None

    @property
    def extra_groups(self) -> list[int] | None:
        # Dropping root's supplementary groups too; None keeps them when no switch happens.
        return None if self.uid is None else []


class PostgresServer:
    """``start()`` a server (or adopt the one in ``HANPORT_TEST_POSTGRES_URL``), then
    ``create_database()`` as often as needed; ``stop()`` drops everything."""

    def __init__(self) -> None:
        self.admin_url: str | None = None  # libpq URL of the maintenance database
        self.process: subprocess.Popen[bytes] | None = None
        self.directory: Path | None = None
        self.log_path: Path | None = None
        self.external = False
        self._major_version: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        external = os.environ.get(ENV_URL, "").strip()
        if external:
            self.external = True
            self.admin_url = libpq_url(external)
            self._wait_until_ready(timeout=15)
            return
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            missing(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run "
                "`bash scripts/install-system-deps.sh` or set HANPORT_TEST_POSTGRES_URL"
            )
        assert bin_dir is not None
        run_as = self._run_as()
        self.directory = service_directory("postgres")
        if run_as.uid is not None:
            os.chown(self.directory, run_as.uid, run_as.gid if run_as.gid is not None else -1)
        data_dir = self.directory / "data"
        self.log_path = self.directory / "server.log"
        init = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                SYSTEM_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            cwd=self.directory,
            check=False,
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=run_as.extra_groups,
        )
        if init.returncode != 0:
            raise ServiceStartError(
                "initdb failed:\n" + (init.stdout + init.stderr).decode(errors="replace")
            )
        error: ServiceStartError | None = None
        for _ in range(attempts):
            port = free_port()
            with self.log_path.open("ab") as log:
                # fsync and friends off: the cluster is thrown away after the run.
                self.process = subprocess.Popen(
                    [
                        *die_with_parent("QUIT"),
                        str(bin_dir / "postgres"),
                        "-D",
                        str(data_dir),
                        "-p",
                        str(port),
                        "-k",
                        str(self.directory),
                        "-c",
                        f"listen_addresses={LOOPBACK}",
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                        "-c",
                        "max_connections=200",
                        "-c",
                        "shared_buffers=32MB",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    user=run_as.uid,
                    group=run_as.gid,
                    extra_groups=run_as.extra_groups,
                )
            self.admin_url = f"postgresql://{SYSTEM_USER}@{LOOPBACK}:{port}/postgres"
            try:
                self._wait_until_ready(timeout=30)
            except ServiceStartError as exc:
                stop_process(self.process, signal.SIGQUIT)
                error = ServiceStartError(f"{exc}\n{read_log(self.log_path)}")
                continue
            return
        assert error is not None
        raise error

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: disconnects clients, no waiting for them.
            stop_process(self.process, signal.SIGINT, grace=15)
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    # -- databases ---------------------------------------------------------------------------

    def create_database(self, prefix: str = "hanport_test", template: str | None = None) -> str:
        """Create an empty database, or a copy of database ``template`` (its URL or name), which
        nobody may be connected to; return its SQLAlchemy URL (``postgresql+psycopg://``)."""
        name = f"{prefix}_{os.getpid()}_{next(_database_numbers)}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            # FILE_COPY copies a small template's files at once (0.3 s here); WAL_LOG, the
            # default since PostgreSQL 15, writes every page through the WAL (up to twice that)
            strategy = sql.SQL(" STRATEGY FILE_COPY") if self._version() >= 15 else sql.SQL("")
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(database_name(template)))
            create += strategy
        with self._admin_connection() as conn:
            conn.execute(create)
        return sqlalchemy_url(self.database_url(name))

    def drop_database(self, url: str) -> None:
        name = database_name(url)
        with self._admin_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def database_url(self, name: str) -> str:
        """libpq URL of database ``name`` on this server."""
        assert self.admin_url is not None, "server not started"
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    # -- internals ---------------------------------------------------------------------------

    def _version(self) -> int:
        if self._major_version is None:
            with self._admin_connection() as conn:
                self._major_version = conn.info.server_version // 10000
        return self._major_version

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        assert self.admin_url is not None, "server not started"
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceStartError(f"postgres exited with code {self.process.returncode}")
            try:
                with self._admin_connection() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.05)
        raise ServiceStartError(f"PostgreSQL not ready after {timeout} s: {last_error}")

    @staticmethod
    def _run_as() -> _RunAs:
        if os.geteuid() != 0:
            return _RunAs(None, None)
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            missing(
                "running as root needs the `postgres` system user (Debian's postgresql package "
                "creates it) because PostgreSQL refuses to run as root"
            )
            raise
        return _RunAs(entry.pw_uid, entry.pw_gid)
