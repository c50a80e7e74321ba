"""API keys for third-party providers: created by a signed-in person, shown once, stored hashed.

Also the API's authentication: the person a key acts for (actor_for_key).

A key has a scope — `view` (read metering points and orders) or `act` (also order and cancel,
as far as the person's own contract or power of attorney allows) — and a mandatory expiry of at
most a year. The API refuses expired and revoked keys (401) and writes with a view key (403).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, Row, bindparam, or_, select, update

from hanport.i18n import N_
from hanport.portal.db.engine import read_once
from hanport.portal.db.schema import api_tokens, inserted_id, parties
from hanport.portal.domain.model import Actor, ProxyScope, Role
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.errors import InvalidInput, Refused, Text, Unauthenticated, text
from hanport.portal.services.tx import transaction, utcnow

__all__ = [
    "DEFAULT_KEY_DAYS",
    "MAX_KEY_DAYS",
    "KeyRequest",
    "KeyUse",
    "actor_for_key",
    "create_token",
    "key_expiry",
    "list_keys",
    "new_key",
    "revoke_key",
    "token_hash",
    "validate_key_form",
]

DEFAULT_KEY_DAYS = 90
MAX_KEY_DAYS = 365
_NAME_MAX = 100


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_expiry(last_day: date) -> datetime:
    """A key is valid through its last day, Norwegian time."""
    return datetime.combine(last_day + timedelta(days=1), time(0), OSLO)


@dataclass(frozen=True, slots=True)
class KeyRequest:
    """A validated request for a new key."""

    name: str
    scope: ProxyScope
    last_day: date  #: valid through this day, Norwegian time


def validate_key_form(name: str, scope: str, last_day: str, today: date) -> KeyRequest:
    """The create form's fields, or every problem with them in both languages."""
    errors: dict[str, Text | str] = {}
    name = name.strip()
    if not name or len(name) > _NAME_MAX:
        errors["name"] = text(
            N_("Give the key a name (at most {max} characters), e.g. the service using it"),
            max=_NAME_MAX,
        )
    if scope not in (ProxyScope.VIEW, ProxyScope.ACT):
        errors["scope"] = N_("Choose what the key may do: view, or also order")
    until = today
    try:
        until = date.fromisoformat(last_day.strip())
    except ValueError:
        errors["expires_on"] = N_("Give the last valid day (YYYY-MM-DD); an API key must expire")
    else:
        if until < today:
            errors["expires_on"] = N_("The last valid day cannot be before today")
        elif until > today + timedelta(days=MAX_KEY_DAYS):
            errors["expires_on"] = text(
                N_("An API key can last at most {days} days (until {last_day})"),
                days=MAX_KEY_DAYS,
                last_day=today + timedelta(days=MAX_KEY_DAYS),
            )
    if errors:
        raise InvalidInput(errors)
    return KeyRequest(name, ProxyScope(scope), until)


def create_token(
    engine: Engine,
    party_id: int,
    name: str,
    *,
    scope: ProxyScope | str = ProxyScope.ACT,
    last_day: date | None = None,
    now: datetime | None = None,
) -> str:
    """A new key for the person; returns it (the only time it exists outside their hands)."""
    token = "hp_" + secrets.token_urlsafe(32)
    with transaction(engine, now) as tx:
        until = last_day or tx.now.astimezone(OSLO).date() + timedelta(days=DEFAULT_KEY_DAYS)
        expires_at = key_expiry(until)
        result = tx.conn.execute(
            api_tokens.insert().values(
                party_id=party_id,
                name=name,
                token_hash=token_hash(token),
                scope=str(ProxyScope(scope)),
                created_at=tx.now,
                expires_at=expires_at,
            )
        )
        tx.audit(
            f"party:{party_id}",
            "api_token.created",
            "api_token",
            inserted_id(result),
            name=name,
            scope=str(ProxyScope(scope)),
            expires_at=expires_at.isoformat(),
        )
    return token


#: what a view key may do: read
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: last_used_at is written at most this often per key, not on every call
LAST_USED_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One API call's key, and what the call does with it."""

    token: str
    method: str
    path: str


#: an API key by its hash, with its person: every API call runs it, so it is built once
_KEY = (
    select(
        api_tokens.c.id,
        api_tokens.c.scope,
        api_tokens.c.expires_at,
        api_tokens.c.revoked_at,
        api_tokens.c.last_used_at,
        parties.c.id.label("party_id"),
        parties.c.role,
        parties.c.display_name,
    )
    .join(parties, parties.c.id == api_tokens.c.party_id)
    .where(api_tokens.c.token_hash == bindparam("hashed"))
)


def actor_for_key(engine: Engine, use: KeyUse, now: datetime | None = None) -> Actor:
    """The person an API key acts for.

    Raises Unauthenticated for an unknown, revoked or expired key, and Refused (audited) when a
    view key is used to change anything. last_used_at is written at most once a minute.
    """
    now = now or utcnow()
    with read_once(engine) as conn:
        key = conn.execute(_KEY, {"hashed": token_hash(use.token)}).first()
    if key is None:
        raise Unauthenticated(N_("Invalid API key"), code="key_unknown")
    actor = _key_actor(key, now)
    if actor.key_scope is ProxyScope.VIEW and use.method.upper() not in READ_METHODS:
        with transaction(engine, now) as tx:
            tx.record_refusal(
                actor,
                "api_token.use",
                "api_token",
                key.id,
                "key_scope_view",
                method=use.method.upper(),
                path=use.path,
            )
            raise Refused(
                "key_scope_view",
                N_(
                    "This API key may only view. Ordering, cancelling or registering a move needs a"
                    " key that may act (My page → API keys)."
                ),
                code="key_view_only",
            )
    if key.last_used_at is None or key.last_used_at <= now - LAST_USED_INTERVAL:
        with transaction(engine, now) as tx:
            # conditional, so that parallel writers (other workers) write it once
            tx.conn.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.id == key.id,
                    or_(
                        api_tokens.c.last_used_at.is_(None),
                        api_tokens.c.last_used_at <= now - LAST_USED_INTERVAL,
                    ),
                )
                .values(last_used_at=now)
            )
    return actor


def _key_actor(key: Any, now: datetime) -> Actor:
    if key.revoked_at is not None:
        raise Unauthenticated(
            N_("The API key has been revoked. Create a new one under My page → API keys."),
            code="key_revoked",
        )
    if key.expires_at <= now:
        raise Unauthenticated(
            N_("The API key expired on {expired_at}. Create a new one under My page → API keys."),
            code="key_expired",
            expired_at=key.expires_at,
        )
    return Actor(key.party_id, Role(key.role), key.display_name, key_scope=ProxyScope(key.scope))


def list_keys(engine: Engine, actor: Actor) -> list[Row[Any]]:
    """The person's keys that are not revoked, newest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(api_tokens)
                .where(api_tokens.c.party_id == _party_id(actor), api_tokens.c.revoked_at.is_(None))
                .order_by(api_tokens.c.created_at.desc())
            ).all()
        )


def new_key(engine: Engine, actor: Actor, name: str, scope: str, last_day: str) -> str:
    """Validate the create form and make the key; returns it (shown once)."""
    wanted = validate_key_form(name, scope, last_day, utcnow().astimezone(OSLO).date())
    return create_token(
        engine, _party_id(actor), wanted.name, scope=wanted.scope, last_day=wanted.last_day
    )


def revoke_key(engine: Engine, actor: Actor, token_id: int) -> None:
    """Revoke one of the person's own keys; someone else's key id changes nothing."""
    with transaction(engine) as tx:
        done = tx.conn.execute(
            update(api_tokens)
            .where(
                api_tokens.c.id == token_id,
                api_tokens.c.party_id == _party_id(actor),
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=tx.now)
        ).rowcount
        if done:
            tx.audit(actor, "api_token.revoked", "api_token", token_id)


def _party_id(actor: Actor) -> int:
    if actor.party_id is None:
        raise Refused("no_party")
    return actor.party_id
