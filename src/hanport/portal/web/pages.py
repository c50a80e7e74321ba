"""The customer's pages: my metering points, one point (order, proxies), one order."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hanport.portal.domain.model import Actor, page_channel
from hanport.portal.services import views
from hanport.portal.services.acting import require_acting_for
from hanport.portal.services.errors import InvalidInput, PortalError
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.lifecycle import cancel_order
from hanport.portal.services.proxies import invite_proxy, proxy_to_revoke, revoke_proxy
from hanport.portal.services.sessions import remember_language
from hanport.portal.services.shipments import DELIVERY_FIELDS as DELIVERY
from hanport.portal.web.common import (
    Config,
    RowId,
    SignedIn,
    actor_of,
    checked_form,
    config_of,
    lang_of,
    local_redirect,
    render,
)
from hanport.portal.web.i18n import LANGS, terms_language
from hanport.portal.web.middleware import browser_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    actor = actor_of(request)
    if actor is None:
        return RedirectResponse("/signin", status_code=303)
    return RedirectResponse("/staff" if actor.is_staff else "/points", status_code=303)


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)


@router.get("/lang/{code}")
async def set_lang(request: Request, code: str, next: str = "/") -> Response:
    if code in LANGS:
        browser_of(request).set_pref("lang", code)
        actor = actor_of(request)
        if actor is not None:  # their mails follow the language they read the pages in
            config = config_of(request)
            await run_in_threadpool(remember_language, config.engine, actor, code)
    return local_redirect(next)


@router.get("/points")
async def my_points(request: Request, actor: SignedIn, config: Config) -> Response:
    found = await run_in_threadpool(views.viewable_points, config.engine, actor)
    return render(request, "points.html", points=found)


@router.get("/points/{mpid}")
async def point_page(request: Request, mpid: str, actor: SignedIn, config: Config) -> Response:
    context = await run_in_threadpool(views.point_view, config.engine, actor, mpid, None)
    return render(request, "point.html", errors={}, form={}, fresh_key=_fresh_key, **context)


def _fresh_key() -> str:
    """An idempotency key for one rendered order form: sent twice (a double click, a resend),
    the order is placed once."""
    return secrets.token_urlsafe(24)


def _shown_terms_id(form: dict[str, str]) -> int | None:
    """The terms version the order form showed (a hidden field)."""
    text = form.get("terms_version_id", "")
    # ASCII digits only: str.isdigit() also accepts '²', which int() refuses
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


async def _point_again(
    request: Request,
    config: Config,
    actor: Actor,
    mpid: str,
    exc: PortalError,
    form: dict[str, str],
) -> Response:
    """The point page again, with the form as filled in and what was wrong with it; an order
    form shown before the terms changed also says what changed."""
    seen = _shown_terms_id(form)
    context = await run_in_threadpool(views.point_view, config.engine, actor, mpid, seen)
    lang = lang_of(request)
    if isinstance(exc, InvalidInput):
        return render(
            request,
            "point.html",
            422,
            errors=exc.field_texts(lang),
            form=form,
            fresh_key=_fresh_key,
            **context,
        )
    # the terms changed while the form was open: keep the person's choices, show the new
    # terms and what changed, and ask for the acceptance again
    kept = {k: v for k, v in form.items() if k in ("declaration", "module_option", *DELIVERY)}
    errors = {"terms_accepted": exc.text(lang)}
    return render(
        request, "point.html", 409, errors=errors, form=kept, fresh_key=_fresh_key, **context
    )


def _confirmed(form: dict[str, str]) -> bool:
    """Whether the form came from a page that asked "are you sure?" (close, cancel, revoke)."""
    return form.get("confirm") == "yes"


@router.get("/points/{mpid}/close")
async def close_confirm(request: Request, mpid: str, actor: SignedIn, config: Config) -> Response:
    context = await run_in_threadpool(views.point_view, config.engine, actor, mpid, None)
    return render(
        request,
        "confirm.html",
        what="close",
        target=f"/points/{mpid}/orders",
        back=f"/points/{mpid}",
        hidden={"action": "close", "idempotency_key": _fresh_key()},
        point=context["point"],
    )


@router.post("/points/{mpid}/orders")
async def order_submit(request: Request, mpid: str, actor: SignedIn, config: Config) -> Response:
    form = await checked_form(request)
    if form.get("action") == "close" and not _confirmed(form):
        return RedirectResponse(f"/points/{mpid}/close", status_code=303)
    order = OrderRequest(
        metering_point_id=mpid,
        action=form.get("action", ""),
        terms_version_id=form.get("terms_version_id"),
        declaration=form.get("declaration"),
        module_option=form.get("module_option"),
        terms_accepted=form.get("terms_accepted") == "yes",
        terms_lang=terms_language(lang_of(request)),  # the terms the page showed
        idempotency_key=form.get("idempotency_key") or None,
        **{name: form.get(name) for name in DELIVERY},  # where the module goes
    )
    channel = page_channel(actor)

    def place() -> int:
        # one hop to the thread pool for both: each costs a thread switch
        require_acting_for(config.engine, actor, mpid=mpid)
        return submit_order(
            config.engine,
            actor,
            order,
            channel,
            places=config.pickup_places,
            sla_working_days=config.sla_working_days,
        )

    try:
        order_id = await run_in_threadpool(place)
    except InvalidInput as exc:
        return await _point_again(request, config, actor, mpid, exc, form)
    except PortalError as exc:
        if exc.code != "terms_changed":
            raise  # the error page says what it is
        return await _point_again(request, config, actor, mpid, exc, form)
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.get("/orders/{order_id}")
async def order_page(
    request: Request, order_id: RowId, actor: SignedIn, config: Config
) -> Response:
    context = await run_in_threadpool(views.order_page, config.engine, actor, order_id)
    return render(request, "order.html", **context)


@router.get("/orders/{order_id}/cancel")
async def cancel_confirm(
    request: Request, order_id: RowId, actor: SignedIn, config: Config
) -> Response:
    context = await run_in_threadpool(views.order_page, config.engine, actor, order_id)
    return render(
        request,
        "confirm.html",
        what="cancel",
        target=f"/orders/{order_id}/cancel",
        back=f"/orders/{order_id}",
        hidden={},
        order=context["order"],
        point=context["point"],
    )


@router.post("/orders/{order_id}/cancel")
async def order_cancel(
    request: Request, order_id: RowId, actor: SignedIn, config: Config
) -> Response:
    if not _confirmed(await checked_form(request)):
        return RedirectResponse(f"/orders/{order_id}/cancel", status_code=303)
    await run_in_threadpool(lambda: require_acting_for(config.engine, actor, order_id=order_id))
    await run_in_threadpool(cancel_order, config.engine, actor, order_id)
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.post("/points/{mpid}/proxies")
async def proxy_invite(request: Request, mpid: str, actor: SignedIn, config: Config) -> Response:
    form = await checked_form(request)
    fields: dict[str, Any] = {
        name: form.get(name, "") for name in ("agent_email", "agent_name", "scope", "valid_to")
    }
    await run_in_threadpool(
        lambda: require_acting_for(config.engine, actor, mpid=mpid, gives_proxy=True)
    )
    try:
        await run_in_threadpool(lambda: invite_proxy(config.engine, actor, mpid, **fields))
    except InvalidInput as exc:
        return await _point_again(request, config, actor, mpid, exc, form)
    return RedirectResponse(f"/points/{mpid}#proxies", status_code=303)


def _local(target: str, fallback: str) -> str:
    """A path on this site to go back to; anything else (another host, //host) is `fallback`."""
    return target if target.startswith("/") and not target.startswith("//") else fallback


@router.get("/proxies/{proxy_id}/revoke")
async def revoke_confirm(
    request: Request, proxy_id: RowId, actor: SignedIn, config: Config, back: str = ""
) -> Response:
    proxy = await run_in_threadpool(proxy_to_revoke, config.engine, actor, proxy_id)
    back = _local(back, f"/points/{proxy.metering_point_id}")
    return render(
        request,
        "confirm.html",
        what="revoke",
        target=f"/proxies/{proxy_id}/revoke",
        back=back,
        hidden={"back": back},
        proxy=proxy,
    )


@router.post("/proxies/{proxy_id}/revoke")
async def proxy_revoke(
    request: Request, proxy_id: RowId, actor: SignedIn, config: Config
) -> Response:
    form = await checked_form(request)
    back = _local(form.get("back", ""), "/points")
    if not _confirmed(form):
        return RedirectResponse(f"/proxies/{proxy_id}/revoke?back={quote(back)}", status_code=303)
    await run_in_threadpool(lambda: require_acting_for(config.engine, actor, proxy_id=proxy_id))
    await run_in_threadpool(revoke_proxy, config.engine, actor, proxy_id)
    return local_redirect(back, fallback="/points")
