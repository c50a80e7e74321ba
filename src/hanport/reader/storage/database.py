"""Open the reader database: URL rules, SQLite pragmas, Alembic migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

__all__ = [
    "HEAD_REVISION",
    "DatabaseError",
    "default_data_dir",
    "default_url",
    "migrate",
    "normalise_url",
    "open_db",
]

_MIGRATIONS = Path(__file__).with_name("migrations")
#: the newest migration in migrations/versions (a test checks it against Alembic's head)
HEAD_REVISION = "0005"


class DatabaseError(Exception):
    """The database URL or file cannot be used (message says why, in both languages)."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/hanport`` (``~/.local/share/hanport``), like platformdirs on Linux."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hanport"


def default_url() -> str:
    return f"sqlite:///{default_data_dir() / 'reader.sqlite3'}"


def normalise_url(url: str | None) -> str:
    """Accept ``postgresql://…``, ``sqlite:///path`` or a bare file path."""
    if not url:
        return default_url()
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: the API reads while the writer writes. synchronous=NORMAL keeps every committed
    # transaction across a killed process (only an OS crash can lose the last commits).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_db(url: str | None, *, create: bool = True) -> Engine:
    """Create the engine for ``url`` and bring the schema up to date (``create``)."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseError(f"ugyldig database-URL / invalid database URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not create and not path.exists():
            raise DatabaseError(f"databasen finnes ikke / database does not exist: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    """Run the Alembic migrations shipped inside the package up to head.

    A database already at head is left alone without loading Alembic (a third of a reader's
    start-up).
    """
    if _revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # readers started together on a new database: one migrates, the others wait here
            # and then find the head already there
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('hanport.migrate'))"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
