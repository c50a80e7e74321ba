"""Engine and migrations: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event

__all__ = ["DEFAULT_URL", "begin_write", "make_engine", "migrate", "read_once"]

DEFAULT_URL = "sqlite:///hanport-portal.db"
_WRITE_OPTION = "hanport_write"
_MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine whose transactions serialise writers correctly on both backends."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # take over transaction control: writers start with BEGIN IMMEDIATE (two deferred
            # writers that read first would otherwise deadlock with SQLITE_BUSY), readers with
            # a plain BEGIN so they run alongside a writer (WAL)
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            immediate = connection.get_execution_options().get(_WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # LIFO: the connection just returned is the next one out, so the few connections that do the
    # work keep their prepared statements warm instead of every pooled connection in turn.
    # No pre-ping: it cost a round trip on every checkout (two per request); after a database
    # restart the first statement's disconnect error invalidates the whole pool instead, so
    # one request per worker fails and the next ones get fresh connections
    return create_engine(url, pool_size=20, max_overflow=20, pool_use_lifo=True, **kwargs)


def read_once(engine: Engine) -> Connection:
    """A connection for a single read statement. On PostgreSQL it runs in autocommit: one
    statement sees one snapshot anyway, and the BEGIN and ROLLBACK around it were two round
    trips of every request (its session or API key lookup)."""
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def begin_write(engine: Engine) -> AbstractContextManager[Connection]:
    """A transaction that will write: on SQLite it takes the write lock at once."""
    return engine.execution_options(**{_WRITE_OPTION: True}).begin()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the database schema up to date (idempotent)."""
    command.upgrade(alembic_config(engine), "head")
