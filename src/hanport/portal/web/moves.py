"""The customer's "I am moving" pages: the move-out date, a confirmation step (a page of its own,
no JavaScript), the notice shown with its date, change and withdraw. The rules are the
services' (services.move_notices); this module reads the forms and shows the answers."""

from __future__ import annotations

import secrets
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hanport.i18n import format_date
from hanport.portal.domain.model import Actor
from hanport.portal.services.acting import require_acting_for
from hanport.portal.services.errors import Conflict, InvalidInput, PortalError
from hanport.portal.services.move_notices import (
    check_move_notice,
    give_move_notice,
    move_status,
    withdraw_move_notice,
)
from hanport.portal.web.common import Config, SignedIn, checked_form, lang_of, render

__all__ = ["router"]

router = APIRouter(prefix="/points/{mpid}/move", include_in_schema=False)

#: what the page says after a step (the redirect's ?done=)
_DONE = ("registered", "confirmed", "adjusted", "unchanged", "withdrawn")


async def _page(
    request: Request,
    config: Config,
    actor: Actor,
    mpid: str,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    done: str = "",
) -> Response:
    status = await run_in_threadpool(move_status, config.engine, actor, mpid)
    return render(
        request,
        "move.html",
        status_code,
        status=status,
        errors=errors or {},
        form=form or {},
        done=done if done in _DONE else "",
        fresh_key=secrets.token_urlsafe(24),
        written=partial(format_date, lang=lang_of(request)),
    )


@router.get("")
async def move_page(
    request: Request, mpid: str, actor: SignedIn, config: Config, done: str = ""
) -> Response:
    return await _page(request, config, actor, mpid, done=done)


def _refusal(exc: PortalError, lang: str) -> dict[str, str]:
    """A refused date as the form's messages: each field's, or the conflict's own words."""
    if isinstance(exc, InvalidInput):
        return exc.field_texts(lang)
    return {"move_out_date": exc.text(lang)}


@router.post("")
async def move_submit(request: Request, mpid: str, actor: SignedIn, config: Config) -> Response:
    """Without confirm=yes: check the date and ask "are you sure?"; with it: give the notice
    (the form's key makes a second submit change nothing)."""
    form = await checked_form(request)
    await run_in_threadpool(lambda: require_acting_for(config.engine, actor, mpid=mpid))
    day, key = form.get("move_out_date", ""), form.get("idempotency_key") or None
    try:
        if form.get("confirm") != "yes":
            plan = await run_in_threadpool(check_move_notice, config.engine, actor, mpid, day)
            return render(
                request,
                "move_confirm.html",
                what="give",
                plan=plan,
                hidden={
                    "move_out_date": plan.move_out_date.isoformat(),
                    "idempotency_key": key or "",
                },
                written=partial(format_date, lang=lang_of(request)),
            )
        result = await run_in_threadpool(
            partial(give_move_notice, config.engine, actor, mpid, day, idempotency_key=key)
        )
    except (InvalidInput, Conflict) as exc:
        status = 422 if isinstance(exc, InvalidInput) else 409
        errors = _refusal(exc, lang_of(request))
        return await _page(
            request, config, actor, mpid, status_code=status, errors=errors, form=form
        )
    return RedirectResponse(f"/points/{mpid}/move?done={result.outcome}", status_code=303)


@router.get("/withdraw")
async def withdraw_confirm(
    request: Request, mpid: str, actor: SignedIn, config: Config
) -> Response:
    status = await run_in_threadpool(move_status, config.engine, actor, mpid)
    if status.notice_date is None:
        return RedirectResponse(f"/points/{mpid}/move", status_code=303)
    return render(
        request,
        "move_confirm.html",
        what="withdraw",
        plan=status,
        hidden={},
        written=partial(format_date, lang=lang_of(request)),
    )


@router.post("/withdraw")
async def withdraw(request: Request, mpid: str, actor: SignedIn, config: Config) -> Response:
    form = await checked_form(request)
    if form.get("confirm") != "yes":
        return RedirectResponse(f"/points/{mpid}/move/withdraw", status_code=303)
    await run_in_threadpool(lambda: require_acting_for(config.engine, actor, mpid=mpid))
    try:
        result = await run_in_threadpool(withdraw_move_notice, config.engine, actor, mpid)
    except Conflict as exc:
        errors = _refusal(exc, lang_of(request))
        return await _page(request, config, actor, mpid, status_code=409, errors=errors)
    return RedirectResponse(f"/points/{mpid}/move?done={result.outcome}", status_code=303)
