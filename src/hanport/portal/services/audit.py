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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from hanport.portal.db.schema import audit_events, audit_head

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainReport",
    "append",
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


def entry_hash(
    prev_hash: str, seq: int, at: datetime, fields: tuple[str, str, str, str, str]
) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the entry.

    `fields` is (actor, action, object_type, object_id, data_json).
    """
    actor, action, object_type, object_id, data_json = fields
    body = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "data": data_json,
    }
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


#: the chain's head, locked until commit: every write runs it, so it is built once
_LOCK_HEAD = (
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)


def append(conn: Connection, entries: Iterable[AuditEntry]) -> None:
    """Append entries to the chain inside the caller's transaction."""
    entries = list(entries)
    if not entries:
        return
    head = conn.execute(_LOCK_HEAD).one()
    seq, prev = head.seq, head.hash
    rows = []
    for entry in entries:
        seq += 1
        data_json = json.dumps(dict(entry.data), sort_keys=True, default=str)
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
    move_head = update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev)
    if conn.dialect.name == "postgresql":
        # one round trip while every writer waits on the head: the entries go in by a
        # data-modifying CTE of the head's update (same transaction, same triggers)
        conn.execute(move_head.add_cte(audit_events.insert().values(rows).cte("appended")))
        return
    conn.execute(audit_events.insert(), rows)
    conn.execute(move_head)


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
