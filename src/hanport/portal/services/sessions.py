"""Server-side sign-in sessions.

The browser's cookie holds a random token; the `sessions` table holds only its SHA-256, so a
stolen database does not yield usable cookies. Every request loads the session together with
the person (one query), so a changed role or name takes effect on the next request. A session
ends after `IDLE_TIMEOUT` without use, after `ABSOLUTE_LIFETIME` in any case, at sign-out, or
when its owner signs out everywhere.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, or_, select, update

from hanport.portal.db.engine import begin_write, read_once
from hanport.portal.db.schema import parties, sessions
from hanport.portal.domain.model import ActingFor, Actor, Role
from hanport.portal.services.acting import tell_acting_stopped
from hanport.portal.services.tx import transaction, utcnow

__all__ = [
    "ABSOLUTE_LIFETIME",
    "IDLE_TIMEOUT",
    "PURGE_INTERVAL",
    "TOUCH_INTERVAL",
    "SignedIn",
    "end_all_sessions",
    "end_session",
    "live_sessions",
    "load_session",
    "purge_sessions",
    "remember_language",
    "session_token_hash",
    "sign_in",
    "start_session",
]

log = logging.getLogger(__name__)

IDLE_TIMEOUT = timedelta(hours=2)  #: sliding: each use extends it
ABSOLUTE_LIFETIME = timedelta(hours=12)  #: from sign-in, however active the session is
#: last_seen_at is written at most this often, so reading pages does not write on every request
TOUCH_INTERVAL = timedelta(minutes=1)
PURGE_INTERVAL = timedelta(minutes=10)  #: how often the job runner deletes ended sessions
_USER_AGENT_MAX = 200


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session and the person it belongs to, as the database has them now."""

    token_hash: str
    actor: Actor
    lang: str  #: the person's preferred language
    created_at: datetime
    expires_at: datetime


def session_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    engine: Engine,
    party_id: int,
    *,
    method: str,
    user_agent: str = "",
    now: datetime | None = None,
) -> str:
    """A new session for a person who has just proved who they are; returns the cookie token.

    Always a fresh token (never one the browser brought along), so nobody can plant a session
    id before sign-in and use it after (session fixation).
    """
    token = secrets.token_urlsafe(32)
    with transaction(engine, now) as tx:
        tx.conn.execute(
            sessions.insert().values(
                token_hash=session_token_hash(token),
                party_id=party_id,
                created_at=tx.now,
                last_seen_at=tx.now,
                expires_at=tx.now + ABSOLUTE_LIFETIME,
                user_agent=user_agent[:_USER_AGENT_MAX],
            )
        )
        # the audit log names the session by a prefix of its hash: enough to tell sessions
        # apart, useless as a cookie
        tx.audit(
            f"party:{party_id}",
            "session.started",
            "party",
            party_id,
            method=method,
            session=session_token_hash(token)[:12],
        )
    return token


def sign_in(
    engine: Engine, party_id: int, *, method: str, user_agent: str, old_token: str | None
) -> tuple[str, Actor]:
    """A browser signs in: the session it had ends (never carried over), a new one starts.
    Returns the new cookie token and the person as the session shows them."""
    if old_token is not None:
        end_session(engine, old_token)
    token = start_session(engine, party_id, method=method, user_agent=user_agent)
    signed_in = load_session(engine, token)
    if signed_in is None:  # only a clock gone backwards could end a session this young
        raise RuntimeError("a session just started is not live")
    return token, signed_in.actor


#: the customer a staff session acts for
_customer = parties.alias("acting_customer")


def _acting_for(row: Any) -> ActingFor | None:
    if row.acting_for_party_id is None or row.role != Role.STAFF:
        return None
    return ActingFor(
        int(row.acting_for_party_id),
        row.acting_for_name,
        row.acting_reason or "",
        row.acting_poa_ref or "",
    )


#: the live session of a token hash, with its person: every signed-in request runs it, so it is
#: built once (parameters `hashed`, `now`, `idle_since`)
_LIVE_SESSION = (
    select(
        sessions.c.created_at,
        sessions.c.last_seen_at,
        sessions.c.expires_at,
        parties.c.id,
        parties.c.role,
        parties.c.display_name,
        parties.c.lang,
        sessions.c.acting_for_party_id,
        sessions.c.acting_reason,
        sessions.c.acting_poa_ref,
        _customer.c.display_name.label("acting_for_name"),
    )
    .join(parties, parties.c.id == sessions.c.party_id)
    .outerjoin(_customer, _customer.c.id == sessions.c.acting_for_party_id)
    .where(
        sessions.c.token_hash == bindparam("hashed"),
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > bindparam("now"),
        sessions.c.last_seen_at > bindparam("idle_since"),
    )
)


def load_session(engine: Engine, token: str, now: datetime | None = None) -> SignedIn | None:
    """The live session for a cookie token, with its person; None if unknown or ended."""
    now = now or utcnow()
    hashed = session_token_hash(token)
    with read_once(engine) as conn:
        row = conn.execute(
            _LIVE_SESSION, {"hashed": hashed, "now": now, "idle_since": now - IDLE_TIMEOUT}
        ).first()
    if row is None:
        return None
    if row.last_seen_at <= now - TOUCH_INTERVAL:
        with begin_write(engine) as conn:
            # conditional, so that parallel requests of one browser write it once
            conn.execute(
                update(sessions)
                .where(
                    sessions.c.token_hash == hashed,
                    sessions.c.last_seen_at <= now - TOUCH_INTERVAL,
                )
                .values(last_seen_at=now)
            )
    return SignedIn(
        token_hash=hashed,
        actor=Actor(row.id, Role(row.role), row.display_name, acting_for=_acting_for(row)),
        lang=row.lang,
        created_at=row.created_at,
        expires_at=min(row.expires_at, max(now, row.last_seen_at) + IDLE_TIMEOUT),
    )


def live_sessions(engine: Engine, actor: Actor, now: datetime | None = None) -> list[Any]:
    """The person's sessions that still work, newest first (for "sign out everywhere")."""
    now = now or utcnow()
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(
                    sessions.c.token_hash,
                    sessions.c.created_at,
                    sessions.c.last_seen_at,
                    sessions.c.user_agent,
                )
                .where(
                    sessions.c.party_id == actor.party_id,
                    sessions.c.revoked_at.is_(None),
                    sessions.c.expires_at > now,
                    sessions.c.last_seen_at > now - IDLE_TIMEOUT,
                )
                .order_by(sessions.c.created_at.desc())
            ).all()
        )


def remember_language(engine: Engine, actor: Actor, lang: str) -> None:
    """The language a signed-in person chose on a page becomes theirs: their mails (receipts,
    "opened", move notices) come in it. Staff acting for a customer change only their own."""
    if actor.party_id is None:
        return
    with begin_write(engine) as conn:
        conn.execute(
            update(parties)
            .where(parties.c.id == actor.party_id, parties.c.lang != lang)
            .values(lang=lang)
        )


def end_session(engine: Engine, token: str, now: datetime | None = None) -> bool:
    """Sign out: the session's token stops working at once, wherever it was copied to."""
    hashed = session_token_hash(token)
    with transaction(engine, now) as tx:
        row = tx.conn.execute(
            select(sessions.c.party_id, sessions.c.acting_for_party_id).where(
                sessions.c.token_hash == hashed, sessions.c.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            return False
        party_id = row.party_id
        tx.conn.execute(
            update(sessions).where(sessions.c.token_hash == hashed).values(revoked_at=tx.now)
        )
        tx.audit(f"party:{party_id}", "session.ended", "party", party_id, session=hashed[:12])
        if row.acting_for_party_id is not None:  # acting for a customer ends with the session
            tell_acting_stopped(tx.conn, tx.now, party_id, row.acting_for_party_id)
    return True


def end_all_sessions(engine: Engine, actor: Actor, now: datetime | None = None) -> int:
    """Sign a person out on every device (e.g. after a lost phone); returns how many ended."""
    if actor.party_id is None:
        return 0
    with transaction(engine, now) as tx:
        live = (sessions.c.party_id == actor.party_id) & sessions.c.revoked_at.is_(None)
        acting_for = (
            tx.conn.execute(
                select(sessions.c.acting_for_party_id)
                .where(live, sessions.c.acting_for_party_id.is_not(None))
                .distinct()
            )
            .scalars()
            .all()
        )
        ended = tx.conn.execute(update(sessions).where(live).values(revoked_at=tx.now)).rowcount
        tx.audit(actor, "session.ended_everywhere", "party", actor.party_id, sessions=ended)
        for customer in acting_for:
            tell_acting_stopped(tx.conn, tx.now, actor.party_id, customer)
    return int(ended)


def purge_sessions(engine: Engine, now: datetime | None = None) -> int:
    """Delete sessions that can no longer be used (ended, idle or past their lifetime).

    Their start and end are in the audit log; the rows themselves only serve live sessions.
    """
    now = now or utcnow()
    with begin_write(engine) as conn:
        purged = conn.execute(
            delete(sessions).where(
                or_(
                    sessions.c.revoked_at.is_not(None),
                    sessions.c.expires_at <= now,
                    sessions.c.last_seen_at <= now - IDLE_TIMEOUT,
                )
            )
        ).rowcount
    if purged:
        log.info("purged %d ended sessions", purged)
    return int(purged)
