"""The holder's answer to providers' access requests: the pending requests, approve (perhaps
narrowed to view or for a shorter period) or decline after a confirmation page (no JavaScript).
The rules are the services' (services.access_requests); this module only reads the forms."""

from __future__ import annotations

from datetime import date
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hanport.i18n import N_, format_date
from hanport.portal.domain.access_requests import Scope
from hanport.portal.domain.model import Actor
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.access_requests import (
    answer_request,
    customer_pending_requests,
    customer_request,
)
from hanport.portal.services.errors import InvalidInput
from hanport.portal.services.tx import utcnow
from hanport.portal.web.common import Config, RowId, SignedIn, checked_form, lang_of, render

__all__ = ["router"]

router = APIRouter(prefix="/requests", include_in_schema=False)


async def _page(
    request: Request,
    config: Config,
    actor: Actor,
    *,
    status_code: int = 200,
    errors: dict[int, str] | None = None,
) -> Response:
    rows = await run_in_threadpool(customer_pending_requests, config.engine, actor)
    return render(
        request,
        "requests.html",
        status_code,
        rows=rows,
        errors=errors or {},
        today=utcnow().astimezone(OSLO).date(),
        written=partial(format_date, lang=lang_of(request)),
        # unanswered a request expires after the configured time ([providers])
        expires=lambda row: (
            (row.created_at + config.access_request_expire_after).astimezone(OSLO).date()
        ),
    )


@router.get("")
async def requests_page(request: Request, actor: SignedIn, config: Config) -> Response:
    return await _page(request, config, actor)


def _granted(form: dict[str, str]) -> tuple[Scope | None, date | None]:
    """The scope and last day the holder chose; an empty field keeps what was asked."""
    scope_text, day_text = form.get("scope", ""), form.get("valid_to", "")
    scope = Scope(scope_text) if scope_text in {str(s) for s in Scope} else None
    if scope_text and scope is None:
        raise InvalidInput({"scope": N_("Choose view or act")})
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        raise InvalidInput({"valid_to": N_("Write the date as dd.mm.yyyy")}) from None
    return scope, day


@router.post("/{request_id}/approve")
async def request_approve(
    request: Request, request_id: RowId, actor: SignedIn, config: Config
) -> Response:
    form = await checked_form(request)
    try:
        scope, valid_to = _granted(form)
        await run_in_threadpool(
            partial(answer_request, config.engine, actor, request_id, True, scope, valid_to)
        )
    except InvalidInput as exc:
        text = "; ".join(exc.field_texts(lang_of(request)).values())
        return await _page(request, config, actor, status_code=422, errors={request_id: text})
    return RedirectResponse("/requests?answered=approved", status_code=303)


@router.get("/{request_id}/decline")
async def decline_confirm(
    request: Request, request_id: RowId, actor: SignedIn, config: Config
) -> Response:
    row = await run_in_threadpool(customer_request, config.engine, actor, request_id)
    return render(request, "request_decline.html", row=row)


@router.post("/{request_id}/decline")
async def request_decline(
    request: Request, request_id: RowId, actor: SignedIn, config: Config
) -> Response:
    form = await checked_form(request)
    if form.get("confirm") != "yes":
        return RedirectResponse(f"/requests/{request_id}/decline", status_code=303)
    await run_in_threadpool(partial(answer_request, config.engine, actor, request_id, False))
    return RedirectResponse("/requests?answered=declined", status_code=303)
