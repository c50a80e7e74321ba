"""Append-only, hash-chained audit log: one entry per decision and command.

Each entry's hash is SHA-256 over the previous hash and the entry's canonical JSON, so changing,
removing or reordering any entry breaks every hash after it. Writers append in the same
transaction as the change they record and lock the single `audit_head` row, which keeps the
chain linear under concurrent writers (PostgreSQL: SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE).
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

__all__ = ["GENESIS_HASH", "AuditEntry", "ChainReport", "append", "entry_hash", "verify_chain"]

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


def append(conn: Connection, entries: Iterable[AuditEntry]) -> None:
    """Append entries to the chain inside the caller's transaction."""
    entries = list(entries)
    if not entries:
        return
    head = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).one()
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
    conn.execute(audit_events.insert(), rows)
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(engine: Engine, batch: int = 5000) -> ChainReport:
    """Recompute every hash; report the first entry that does not match."""
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
