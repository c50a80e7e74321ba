"""API keys for third-party providers: created by a signed-in person, shown once, stored hashed.

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

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Engine, or_, select, update
from starlette.concurrency import run_in_threadpool

from hanport.portal.db.schema import api_tokens, inserted_id, parties
from hanport.portal.domain.model import Actor, ProxyScope, Role
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.errors import InvalidInput, PortalError, Refused
from hanport.portal.services.tx import transaction, utcnow
from hanport.portal.web.app import checked_form, lang_of, render, require_actor

__all__ = [
    "DEFAULT_KEY_DAYS",
    "MAX_KEY_DAYS",
    "KeyRejected",
    "KeyRequest",
    "KeyUse",
    "actor_for_key",
    "create_token",
    "install",
    "key_expiry",
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
    errors: dict[str, tuple[str, str]] = {}
    name = name.strip()
    if not name or len(name) > _NAME_MAX:
        errors["name"] = (
            f"Gi nøkkelen et navn (høyst {_NAME_MAX} tegn), f.eks. tjenesten som skal bruke den",
            f"Give the key a name (at most {_NAME_MAX} characters), e.g. the service using it",
        )
    if scope not in (ProxyScope.VIEW, ProxyScope.ACT):
        errors["scope"] = (
            "Velg hva nøkkelen kan brukes til: innsyn, eller også bestille",
            "Choose what the key may do: view, or also order",
        )
    until = today
    try:
        until = date.fromisoformat(last_day.strip())
    except ValueError:
        errors["expires_on"] = (
            "Oppgi siste gyldige dag (ÅÅÅÅ-MM-DD); en API-nøkkel må ha en sluttdato",
            "Give the last valid day (YYYY-MM-DD); an API key must expire",
        )
    else:
        if until < today:
            errors["expires_on"] = (
                "Siste gyldige dag kan ikke være før i dag",
                "The last valid day cannot be before today",
            )
        elif until > today + timedelta(days=MAX_KEY_DAYS):
            errors["expires_on"] = (
                f"En API-nøkkel kan gjelde i høyst {MAX_KEY_DAYS} dager (til "
                f"{today + timedelta(days=MAX_KEY_DAYS)})",
                f"An API key can last at most {MAX_KEY_DAYS} days (until "
                f"{today + timedelta(days=MAX_KEY_DAYS)})",
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


class KeyRejected(PortalError):
    """The key is unknown, revoked or expired: the API answers 401 with this text."""

    status = 401


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


def actor_for_key(engine: Engine, use: KeyUse, now: datetime | None = None) -> Actor:
    """The person an API key acts for.

    Raises KeyRejected for an unknown, revoked or expired key, and Refused (audited) when a
    view key is used to change anything. last_used_at is written at most once a minute.
    """
    now = now or utcnow()
    with engine.connect() as conn:
        key = conn.execute(
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
            .where(api_tokens.c.token_hash == token_hash(use.token))
        ).first()
    if key is None:
        raise KeyRejected("Ugyldig API-nøkkel", "Invalid API key")
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
                "Denne API-nøkkelen gir bare innsyn. For å bestille, kansellere eller melde "
                "flytting trengs en nøkkel som kan bestille (Min side → API-nøkler).",
                "This API key may only view. Ordering, cancelling or registering a move "
                "needs a key that may act (My page → API keys).",
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
        raise KeyRejected(
            "API-nøkkelen er trukket tilbake. Lag en ny under Min side → API-nøkler.",
            "The API key has been revoked. Create a new one under My page → API keys.",
        )
    if key.expires_at <= now:
        until = key.expires_at.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")
        raise KeyRejected(
            f"API-nøkkelen utløp {until}. Lag en ny under Min side → API-nøkler.",
            f"The API key expired on {until}. Create a new one under My page → API keys.",
        )
    return Actor(key.party_id, Role(key.role), key.display_name, key_scope=ProxyScope(key.scope))


def _party_id(actor: Actor) -> int:
    if actor.party_id is None:
        raise Refused("no_party")
    return actor.party_id


def install(app: FastAPI, engine: Engine) -> None:
    def listing(party_id: int) -> list[Any]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(api_tokens)
                    .where(api_tokens.c.party_id == party_id, api_tokens.c.revoked_at.is_(None))
                    .order_by(api_tokens.c.created_at.desc())
                ).all()
            )

    def default_form() -> dict[str, str]:
        today = utcnow().astimezone(OSLO).date()
        return {"scope": "view", "expires_on": str(today + timedelta(days=DEFAULT_KEY_DAYS))}

    async def page(
        request: Request,
        actor: Actor,
        *,
        status_code: int = 200,
        new_token: str | None = None,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> Response:
        rows = await run_in_threadpool(listing, _party_id(actor))
        today = utcnow().astimezone(OSLO).date()
        return render(
            request,
            "tokens.html",
            status_code,
            rows=rows,
            new_token=new_token,
            form=form or default_form(),
            errors=errors or {},
            now=utcnow(),
            max_day=str(today + timedelta(days=MAX_KEY_DAYS)),
            min_day=str(today),
        )

    @app.get("/tokens", include_in_schema=False)
    async def tokens_page(request: Request) -> Response:
        return await page(request, require_actor(request))

    @app.post("/tokens", include_in_schema=False)
    async def tokens_create(request: Request) -> Response:
        actor = require_actor(request)
        party_id = _party_id(actor)
        form = await checked_form(request)
        today = utcnow().astimezone(OSLO).date()
        try:
            wanted = validate_key_form(
                form.get("name", ""), form.get("scope", ""), form.get("expires_on", ""), today
            )
        except InvalidInput as exc:
            return await page(
                request,
                actor,
                status_code=422,
                form=form,
                errors=exc.field_texts(lang_of(request)),
            )
        token = await run_in_threadpool(
            lambda: create_token(
                engine, party_id, wanted.name, scope=wanted.scope, last_day=wanted.last_day
            )
        )
        return await page(request, actor, new_token=token)

    @app.post("/tokens/{token_id}/revoke", include_in_schema=False)
    async def tokens_revoke(request: Request, token_id: int) -> Response:
        actor = require_actor(request)
        await checked_form(request)

        def revoke() -> None:
            with transaction(engine) as tx:
                done = tx.conn.execute(
                    update(api_tokens)
                    .where(
                        api_tokens.c.id == token_id,
                        api_tokens.c.party_id == actor.party_id,
                        api_tokens.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=tx.now)
                ).rowcount
                if done:
                    tx.audit(actor, "api_token.revoked", "api_token", token_id)

        await run_in_threadpool(revoke)
        return await page(request, actor)
