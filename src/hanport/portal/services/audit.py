"""Append-only, hash-chained audit log: one entry per decision and command.

Each entry's hash is SHA-256 over the previous hash and the entry's canonical JSON, so changing,
removing or reordering any entry breaks every hash after it. Writers append in the same
transaction as the change they record and lock the single `audit_head` row, which keeps the
chain linear under concurrent writers (PostgreSQL: SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE).

Database triggers (migration 0004) refuse UPDATE and DELETE of entries and any move of the head
backwards. Someone who may drop them can cut off the tail or rewrite the whole chain
consistently; keep the head that `hanport audit-verify` prints outside the database and pass it
back with --expect-head to detect that.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update

from hanport.portal.db.schema import audit_events, audit_head

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainReport",
    "append",
    "append_and_commit",
    "current_head",
    "entry_hash",
    "parse_head",
    "verify_chain",
]

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    data: Mapping[str, Any] = field(default_factory=dict)


def _hashed_body(
    seq: int, at: datetime, fields: tuple[str, str, str, str, str]
) -> dict[str, object]:
    actor, action, object_type, object_id, data_json = fields
    return {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "data": data_json,
    }


def entry_hash(
    prev_hash: str, seq: int, at: datetime, fields: tuple[str, str, str, str, str]
) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the entry.

    `fields` is (actor, action, object_type, object_id, data_json).
    """
    body = _hashed_body(seq, at, fields)
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


#: the chain's head, locked until commit: every write runs it, so it is built once
_LOCK_HEAD = (
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)

#: PostgreSQL: lock the head, chain the entries (the same SHA-256 as `entry_hash`, over each
#: entry's JSON made before the lock and its sequence number), insert them and move the head,
#: in ONE statement. The head is every writer's lock: it is held from this statement until
#: COMMIT, one round trip, instead of across a read, the hashing in Python (which waits for the
#: GIL among the worker's threads) and a second statement. A text statement with array
#: parameters: the same prepared statement for any number of entries.
_APPEND_PG_SQL = """
WITH RECURSIVE head AS MATERIALIZED (
    SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE
), entry AS (
    SELECT * FROM unnest(
        CAST(:prefixes AS text[]), CAST(:ats AS timestamptz[]), CAST(:actors AS text[]),
        CAST(:actions AS text[]), CAST(:object_types AS text[]), CAST(:object_ids AS text[]),
        CAST(:datas AS text[])
    ) WITH ORDINALITY AS e(prefix, at, actor, action, object_type, object_id, data_json, n)
), chain AS (
    SELECT e.n, h.seq + 1 AS seq, CAST(h.hash AS text) AS prev_hash,
        encode(sha256(convert_to(
            h.hash || e.prefix || CAST(h.seq + 1 AS text) || '}', 'UTF8')), 'hex') AS hash
    FROM head h JOIN entry e ON e.n = 1
    UNION ALL
    SELECT e.n, c.seq + 1, c.hash,
        encode(sha256(convert_to(
            c.hash || e.prefix || CAST(c.seq + 1 AS text) || '}', 'UTF8')), 'hex')
    FROM chain c JOIN entry e ON e.n = c.n + 1
), appended AS (
    INSERT INTO audit_events
        (seq, at, actor, action, object_type, object_id, data_json, prev_hash, hash)
    SELECT c.seq, e.at, e.actor, e.action, e.object_type, e.object_id, e.data_json,
        c.prev_hash, c.hash
    FROM chain c JOIN entry e ON e.n = c.n
)
UPDATE audit_head SET seq = last.seq, hash = last.hash
FROM (SELECT seq, hash FROM chain ORDER BY n DESC LIMIT 1) AS last
WHERE audit_head.id = 1
"""
_APPEND_PG = text(_APPEND_PG_SQL)
#: the same for psycopg itself (`append_and_commit`): its %(name)s parameters
_APPEND_PG_DRIVER = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", _APPEND_PG_SQL)


def _hashed_prefix(entry: AuditEntry, data_json: str) -> str:
    """The entry's canonical JSON as `entry_hash` hashes it, up to its sequence number: "seq"
    sorts last, so the JSON ends with `"seq":N}` and the database appends N and the brace."""
    fields = (entry.actor, entry.action, entry.object_type, entry.object_id, data_json)
    body = json.dumps(_hashed_body(0, entry.at, fields), sort_keys=True, separators=(",", ":"))
    assert body.endswith(',"seq":0}')
    return body[: -len("0}")]


def _pg_parameters(entries: list[AuditEntry], datas: list[str]) -> dict[str, list[Any]]:
    return {
        "prefixes": [_hashed_prefix(e, d) for e, d in zip(entries, datas, strict=True)],
        "ats": [entry.at for entry in entries],
        "actors": [entry.actor for entry in entries],
        "actions": [entry.action for entry in entries],
        "object_types": [entry.object_type for entry in entries],
        "object_ids": [entry.object_id for entry in entries],
        "datas": datas,
    }


def append_and_commit(conn: Connection, entries: Iterable[AuditEntry]) -> None:
    """Append entries as the last statement of the caller's transaction and commit it.

    PostgreSQL: the append and the COMMIT go to the server together (psycopg's pipeline), so
    the head's lock ends when the server has run them, not when this thread gets the GIL back
    to send the COMMIT; the caller's `begin()` then finds the transaction committed (its own
    commit does nothing). Elsewhere, or without entries, the caller's `begin()` commits."""
    entries = list(entries)
    if conn.dialect.name != "postgresql" or not entries:
        append(conn, entries)
        return
    datas = [json.dumps(dict(entry.data), sort_keys=True, default=str) for entry in entries]
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.pipeline():
        driver.execute(_APPEND_PG_DRIVER, _pg_parameters(entries, datas))
        driver.commit()


def append(conn: Connection, entries: Iterable[AuditEntry]) -> None:
    """Append entries to the chain inside the caller's transaction."""
    entries = list(entries)
    if not entries:
        return
    datas = [json.dumps(dict(entry.data), sort_keys=True, default=str) for entry in entries]
    if conn.dialect.name == "postgresql":
        conn.execute(_APPEND_PG, _pg_parameters(entries, datas))
        return
    head = conn.execute(_LOCK_HEAD).one()
    seq, prev = head.seq, head.hash
    rows = []
    for entry, data_json in zip(entries, datas, strict=True):
        seq += 1
        fields = (entry.actor, entry.action, entry.object_type, entry.object_id, data_json)
        digest = entry_hash(prev, seq, entry.at, fields)
        rows.append(
            {
                "seq": seq,
                "at": entry.at,
                "actor": entry.actor,
                "action": entry.action,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "data_json": data_json,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    conn.execute(audit_events.insert(), rows)
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def parse_head(text: str) -> tuple[int, str]:
    """'SEQ:HASH' as printed by `hanport audit-verify` -> (seq, hash); ValueError otherwise."""
    seq, _, digest = text.strip().partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"expected SEQ:HASH (64 hex digits), got {text!r}")
    return int(seq), digest


def verify_chain(
    engine: Engine, batch: int = 5000, expect_head: tuple[int, str] | None = None
) -> ChainReport:
    """Recompute every hash; report the first entry that does not match.

    A chain that is only cut short, or rewritten from the start, is consistent in itself;
    `expect_head` (a head recorded outside the database earlier) catches both: that entry must
    still be there with the same hash.
    """
    report = _verify_links(engine, batch)
    if not report.ok or expect_head is None:
        return report
    seq, digest = expect_head
    with engine.connect() as conn:
        found = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == seq)).scalar()
    if found is None:
        return ChainReport(
            False, report.checked, seq, f"entry {seq} of the recorded head is gone (cut off)"
        )
    if found != digest:
        return ChainReport(
            False, report.checked, seq, f"entry {seq} differs from the recorded head (rewritten)"
        )
    return report


def current_head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).one()
    return int(head.seq), str(head.hash)


def _verify_links(engine: Engine, batch: int) -> ChainReport:
    prev, expected_seq, checked = GENESIS_HASH, 1, 0
    with engine.connect() as conn:
        last_seq = 0
        while True:
            rows = conn.execute(
                select(audit_events)
                .where(audit_events.c.seq >= expected_seq)
                .order_by(audit_events.c.seq)
                .limit(batch)
            ).all()
            if not rows:
                break
            for row in rows:
                if row.seq != expected_seq:
                    return ChainReport(
                        False, checked, expected_seq, f"entry {expected_seq} is missing"
                    )
                if row.prev_hash != prev:
                    return ChainReport(
                        False, checked, row.seq, "link to the previous entry is broken"
                    )
                fields = (row.actor, row.action, row.object_type, row.object_id, row.data_json)
                digest = entry_hash(prev, row.seq, row.at, fields)
                if digest != row.hash:
                    return ChainReport(False, checked, row.seq, "content does not match its hash")
                prev, expected_seq, last_seq, checked = row.hash, row.seq + 1, row.seq, checked + 1
        head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).one()
        if head.seq != last_seq or head.hash != prev:
            return ChainReport(
                False,
                checked,
                last_seq + 1,
                f"chain ends at entry {last_seq} but the head says {head.seq}",
            )
    return ChainReport(True, checked)
