"""One transaction per command, with the audit entries written in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from hanport.portal.db.engine import begin_write
from hanport.portal.domain.model import Actor
from hanport.portal.services import audit
from hanport.portal.services.errors import RateLimited, Refused

__all__ = ["Tx", "lock_keys", "transaction", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def lock_keys(conn: Connection, keys: list[str]) -> None:
    """Serialise transactions on the same keys until commit (PostgreSQL advisory locks), so a
    count-then-insert limit holds under concurrent requests."""
    if conn.dialect.name != "postgresql":
        return  # SQLite: begin_write already took the database's single write lock
    for key in sorted(keys):  # one order for everyone, so two requests cannot deadlock
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


class Tx:
    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self._entries: list[audit.AuditEntry] = []
        self._refusals: list[audit.AuditEntry] = []

    def audit(
        self, actor: Actor | str, action: str, object_type: str, object_id: object, /, **data: Any
    ) -> None:
        label = actor.label if isinstance(actor, Actor) else actor
        data = _with_acting(actor, data)
        self._entries.append(
            audit.AuditEntry(self.now, label, action, object_type, str(object_id), data)
        )

    def record_refusal(
        self,
        actor: Actor | str,
        action: str,
        object_type: str,
        object_id: object,
        reason: str,
        /,
        **data: Any,
    ) -> None:
        """Audit a refused attempt; kept although the command then rolls back."""
        label = actor.label if isinstance(actor, Actor) else actor
        self._refusals.append(
            audit.AuditEntry(
                self.now,
                label,
                f"{action}.refused",
                object_type,
                str(object_id),
                _with_acting(actor, {"reason": reason, **data}),
            )
        )

    def refuse(
        self,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: object,
        reason: str,
        /,
        **data: Any,
    ) -> Refused:
        """Audit a refusal and return the error to raise."""
        self.record_refusal(actor, action, object_type, object_id, reason, **data)
        return Refused(reason)


@contextmanager
def transaction(engine: Engine, now: datetime | None = None) -> Iterator[Tx]:
    """Run a command atomically; audit entries are appended last to hold the chain lock briefly."""
    tx: Tx | None = None
    try:
        with begin_write(engine) as conn:
            tx = Tx(conn, now or utcnow())
            yield tx
            # a command that goes on after refusing part of its work (a batch of orders)
            # keeps those refusals on record too
            # the last statement, sent with the COMMIT: the audit head is every writer's lock
            audit.append_and_commit(conn, tx._entries + tx._refusals)
    except (Refused, RateLimited):
        # the command is rolled back, but the refused attempt itself must stay on record
        if tx is not None and tx._refusals:
            with begin_write(engine) as conn:
                audit.append(conn, tx._refusals)
        raise


def _with_acting(actor: Actor | str, data: dict[str, Any]) -> dict[str, Any]:
    """A staff member acting for a customer: every entry names the customer and the reason."""
    if not isinstance(actor, Actor) or actor.acting_for is None:
        return data
    acting = actor.acting_for
    return {**data, "acting_for": f"party:{acting.party_id}", "acting_reason": acting.reason}
