"""Signing in (a code by e-mail), signing out, and the person's live sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hanport.portal.services import sessions
from hanport.portal.services.errors import InvalidInput
from hanport.portal.web.common import (
    Config,
    SignedIn,
    checked_form,
    lang_of,
    render,
    sign_in_method,
)
from hanport.portal.web.middleware import browser_of
from hanport.portal.web.oidc_session import forget_provider_session, provider_signout_url

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    return render(request, "signin.html", step="email", email="", errors={})


@router.post("/signin")
async def signin_start(request: Request) -> Response:
    form = await checked_form(request)
    email = form.get("email", "").strip()
    client = request.client.host if request.client else None
    try:
        await run_in_threadpool(sign_in_method(request).start, email, None, client)
    except InvalidInput as exc:
        errors = exc.field_texts(lang_of(request))
        return render(request, "signin.html", 422, step="email", email=email, errors=errors)
    return render(request, "signin.html", step="code", email=email, errors={})


@router.post("/signin/code")
async def signin_finish(request: Request, config: Config) -> Response:
    form = await checked_form(request)
    email = form.get("email", "").strip()
    try:
        identity = await run_in_threadpool(
            sign_in_method(request).finish, email, form.get("code", "")
        )
    except InvalidInput as exc:
        errors = exc.field_texts(lang_of(request))
        return render(request, "signin.html", 422, step="code", email=email, errors=errors)
    browser = browser_of(request)
    token, actor = await run_in_threadpool(
        lambda: sessions.sign_in(
            config.engine,
            identity.party_id,
            method=identity.method,
            user_agent=request.headers.get("user-agent", ""),
            old_token=browser.session_token,
        )
    )
    browser.begin_session(token)  # a new token at every sign-in: no session fixation
    forget_provider_session(request)  # this session did not begin at a provider
    return RedirectResponse("/staff" if actor.is_staff else "/points", status_code=303)


@router.post("/signout")
async def signout(request: Request, config: Config) -> Response:
    """The portal session ends here and now; a session begun at an OpenID provider is then
    ended there too (the browser goes to its end_session_endpoint and comes back)."""
    await checked_form(request)
    browser = browser_of(request)
    if browser.session_token is not None:
        await run_in_threadpool(sessions.end_session, config.engine, browser.session_token)
    browser.end_session()
    return RedirectResponse(await provider_signout_url(request, config) or "/signin", 303)


@router.get("/sessions")
async def sessions_page(request: Request, actor: SignedIn, config: Config) -> Response:
    live = await run_in_threadpool(sessions.live_sessions, config.engine, actor)
    current = browser_of(request).signed_in
    return render(
        request, "sessions.html", sessions=live, current=current.token_hash if current else None
    )


@router.post("/signout/everywhere")
async def signout_everywhere(request: Request, actor: SignedIn, config: Config) -> Response:
    await checked_form(request)
    await run_in_threadpool(sessions.end_all_sessions, config.engine, actor)
    browser_of(request).end_session()
    return RedirectResponse(await provider_signout_url(request, config) or "/signin", 303)
