"""INSERT … ON CONFLICT for SQLite and PostgreSQL (both speak it, through different dialects)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert_ignore", "upsert"]


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database {conn.dialect.name!r} (SQLite or PostgreSQL)")


def upsert(conn: Connection, table: Table, keys: Sequence[str]) -> Any:
    """Insert, or replace every non-key column of the row with the same ``keys``."""
    stmt = _insert(conn, table)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


def insert_ignore(conn: Connection, table: Table, keys: Sequence[str] | None = None) -> Any:
    """Insert, skipping rows that already exist (idempotent replays, several writers)."""
    stmt = _insert(conn, table)
    return stmt.on_conflict_do_nothing(index_elements=list(keys) if keys else None)
