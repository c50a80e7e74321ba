"""API keys for third-party providers: created by a signed-in person, shown once, stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Engine, select, update
from starlette.concurrency import run_in_threadpool

from hanport.portal.db.schema import api_tokens, inserted_id
from hanport.portal.domain.model import Actor
from hanport.portal.services.errors import InvalidInput, Refused
from hanport.portal.services.tx import transaction
from hanport.portal.web.app import checked_form, lang_of, render, require_actor

__all__ = ["create_token", "install", "token_hash"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, party_id: int, name: str) -> str:
    token = "hp_" + secrets.token_urlsafe(32)
    with transaction(engine) as tx:
        result = tx.conn.execute(
            api_tokens.insert().values(
                party_id=party_id,
                name=name,
                token_hash=token_hash(token),
                created_at=tx.now,
                expires_at=tx.now + timedelta(days=365),
            )
        )
        tx.audit(
            f"party:{party_id}",
            "api_token.created",
            "api_token",
            inserted_id(result),
            name=name,
        )
    return token


def _party_id(actor: Actor) -> int:
    if actor.party_id is None:
        raise Refused("no_party")
    return actor.party_id


def install(app: FastAPI, engine: Engine) -> None:
    def listing(party_id: int) -> list[Any]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(api_tokens).where(
                        api_tokens.c.party_id == party_id, api_tokens.c.revoked_at.is_(None)
                    )
                ).all()
            )

    @app.get("/tokens", include_in_schema=False)
    async def tokens_page(request: Request) -> Response:
        actor = require_actor(request)
        rows = await run_in_threadpool(listing, _party_id(actor))
        return render(request, "tokens.html", rows=rows, new_token=None, errors={})

    @app.post("/tokens", include_in_schema=False)
    async def tokens_create(request: Request) -> Response:
        actor = require_actor(request)
        form = await checked_form(request)
        name = form.get("name", "").strip()
        if not name or len(name) > 100:
            exc = InvalidInput(
                {
                    "name": (
                        "Gi nøkkelen et navn (høyst 100 tegn)",
                        "Give the key a name (at most 100 characters)",
                    )
                }
            )
            rows = await run_in_threadpool(listing, _party_id(actor))
            return render(
                request,
                "tokens.html",
                422,
                rows=rows,
                new_token=None,
                errors=exc.field_texts(lang_of(request)),
            )
        assert actor.party_id is not None
        token = await run_in_threadpool(create_token, engine, actor.party_id, name)
        rows = await run_in_threadpool(listing, _party_id(actor))
        return render(request, "tokens.html", rows=rows, new_token=token, errors={})

    @app.post("/tokens/{token_id}/revoke", include_in_schema=False)
    async def tokens_revoke(request: Request, token_id: int) -> Response:
        actor = require_actor(request)
        await checked_form(request)

        def revoke() -> None:
            with transaction(engine) as tx:
                done = tx.conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id == token_id, api_tokens.c.party_id == actor.party_id)
                    .values(revoked_at=tx.now)
                ).rowcount
                if done:
                    tx.audit(actor, "api_token.revoked", "api_token", token_id)

        await run_in_threadpool(revoke)
        rows = await run_in_threadpool(listing, _party_id(actor))
        return render(request, "tokens.html", rows=rows, new_token=None, errors={})
