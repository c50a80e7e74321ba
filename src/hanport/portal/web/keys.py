"""The API keys page: a person makes keys for third-party providers, sees and revokes them."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hanport.portal.domain.model import Actor
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.api_keys import (
    DEFAULT_KEY_DAYS,
    MAX_KEY_DAYS,
    list_keys,
    new_key,
    revoke_key,
)
from hanport.portal.services.errors import InvalidInput
from hanport.portal.services.tx import utcnow
from hanport.portal.web.common import Config, RowId, SignedIn, checked_form, lang_of, render

__all__ = ["router"]

router = APIRouter(prefix="/tokens", include_in_schema=False)


async def _page(
    request: Request,
    config: Config,
    actor: Actor,
    *,
    status_code: int = 200,
    new_token: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    rows = await run_in_threadpool(list_keys, config.engine, actor)
    now = utcnow()
    today = now.astimezone(OSLO).date()
    default = {"scope": "view", "expires_on": str(today + timedelta(days=DEFAULT_KEY_DAYS))}
    return render(
        request,
        "tokens.html",
        status_code,
        rows=rows,
        new_token=new_token,
        form=form or default,
        errors=errors or {},
        now=now,
        max_day=str(today + timedelta(days=MAX_KEY_DAYS)),
        min_day=str(today),
    )


@router.get("")
async def tokens_page(request: Request, actor: SignedIn, config: Config) -> Response:
    return await _page(request, config, actor)


@router.post("")
async def tokens_create(request: Request, actor: SignedIn, config: Config) -> Response:
    form = await checked_form(request)
    fields = (form.get("name", ""), form.get("scope", ""), form.get("expires_on", ""))
    try:
        token = await run_in_threadpool(new_key, config.engine, actor, *fields)
    except InvalidInput as exc:
        errors = exc.field_texts(lang_of(request))
        return await _page(request, config, actor, status_code=422, form=form, errors=errors)
    return await _page(request, config, actor, new_token=token)


@router.post("/{token_id}/revoke")
async def tokens_revoke(
    request: Request, token_id: RowId, actor: SignedIn, config: Config
) -> Response:
    await checked_form(request)
    await run_in_threadpool(revoke_key, config.engine, actor, token_id)
    return await _page(request, config, actor)
