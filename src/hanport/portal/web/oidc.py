"""Signing in through an OpenID provider (ID-porten): the redirect there, the way back, signing
out there too (RP-initiated logout), and the provider's front- and back-channel logout. Served
only when the configuration has an [oidc] section.

The ID token of the sign-in is the `id_token_hint` of signing out at the provider. It holds the
person's pid, so the portal keeps it in the browser's preferences cookie encrypted (Fernet, with
a key derived from the app's secret), never in the database, and drops it at sign-out.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hanport.portal.services import sessions
from hanport.portal.services.oidc import (
    CALLBACK_PATH,
    STAFF_CALLBACK_PATH,
    LogoutRefused,
    OidcRefused,
    OidcSignIn,
    PendingSignIn,
    StaffOidcSignIn,
)
from hanport.portal.web.common import Config, PortalConfig, lang_of, render
from hanport.portal.web.middleware import browser_of
from hanport.portal.web.oidc_session import keep_provider_session, oidc_of, staff_oidc_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_PENDING = "oidc"  #: the preferences-cookie entry holding the pending sign-in
_STAFF_PENDING = "oidc_staff"


def _not_configured(request: Request) -> Response:
    return RedirectResponse("/signin", status_code=303)


@router.get("/signin/oidc")
async def oidc_start(request: Request, config: Config) -> Response:
    return await _send_away(request, oidc_of(request, config), _PENDING)


@router.get(CALLBACK_PATH)
async def oidc_callback(request: Request, config: Config) -> Response:
    return await _come_back(request, config, oidc_of(request, config), _PENDING)


async def _send_away(
    request: Request, relying_party: OidcSignIn | StaffOidcSignIn | None, key: str
) -> Response:
    """Send the browser to the provider, keeping the pending sign-in under `key`."""
    if relying_party is None:
        return _not_configured(request)
    try:
        url, pending = await run_in_threadpool(relying_party.begin, lang_of(request))
    except OidcRefused as refused:
        return render(request, "oidc_refused.html", 503, message=refused.message)
    browser_of(request).set_pref(key, pending.dumps())
    return RedirectResponse(url, status_code=303)


async def _come_back(
    request: Request,
    config: PortalConfig,
    relying_party: OidcSignIn | StaffOidcSignIn | None,
    key: str,
) -> Response:
    """The browser is back from the provider: refuse, or start the session."""
    if relying_party is None:
        return _not_configured(request)
    browser = browser_of(request)
    pending = PendingSignIn.loads(browser.prefs.get(key))
    browser.set_pref(key, "")  # one way back per sign-in: a replay finds nothing
    client = request.client.host if request.client else None
    try:
        identity = await run_in_threadpool(
            relying_party.finish, dict(request.query_params), pending, client
        )
    except OidcRefused as refused:
        return render(request, "oidc_refused.html", 403, message=refused.message)
    token, actor = await run_in_threadpool(
        lambda: sessions.sign_in(
            config.engine,
            identity.party_id,
            method=identity.method,
            user_agent=request.headers.get("user-agent", ""),
            old_token=browser.session_token,
        )
    )
    await run_in_threadpool(relying_party.bind_session, token, identity.sid)
    browser.begin_session(token)  # a new token at every sign-in: no session fixation
    keep_provider_session(request, config, staff=key == _STAFF_PENDING, id_token=identity.id_token)
    return RedirectResponse("/staff" if actor.is_staff else "/points", status_code=303)


@router.get("/staff/signin/oidc")
async def staff_oidc_start(request: Request, config: Config) -> Response:
    return await _send_away(request, staff_oidc_of(request, config), _STAFF_PENDING)


@router.get(STAFF_CALLBACK_PATH)
async def staff_oidc_callback(request: Request, config: Config) -> Response:
    return await _come_back(request, config, staff_oidc_of(request, config), _STAFF_PENDING)


@router.get("/signin/oidc/logout")
async def oidc_frontchannel_logout(request: Request, config: Config) -> Response:
    """OpenID Connect Front-Channel Logout: the provider loads this in an iframe with its
    issuer and session id; every portal session begun in that provider session ends."""
    relying_party = oidc_of(request, config)
    if relying_party is not None:
        await run_in_threadpool(
            relying_party.frontchannel_logout,
            request.query_params.get("iss", ""),
            request.query_params.get("sid", ""),
        )
    return HTMLResponse("", headers={"cache-control": "no-store"})


async def _backchannel(
    request: Request, relying_party: OidcSignIn | StaffOidcSignIn | None
) -> Response:
    """OpenID Connect Back-Channel Logout: the provider posts a logout token (a JWT it signs);
    200 once the sessions of its sid (or sub) have ended, 400 when the token does not hold."""
    headers = {"cache-control": "no-store"}
    if relying_party is None:
        return JSONResponse({"error": "invalid_request"}, 400, headers=headers)
    form = await request.form()
    try:
        await run_in_threadpool(relying_party.backchannel_logout, str(form.get("logout_token", "")))
    except LogoutRefused:
        return JSONResponse({"error": "invalid_request"}, 400, headers=headers)
    return Response(status_code=200, headers=headers)


@router.post("/signin/oidc/backchannel-logout")
async def oidc_backchannel_logout(request: Request, config: Config) -> Response:
    return await _backchannel(request, oidc_of(request, config))


@router.post("/staff/signin/oidc/backchannel-logout")
async def staff_oidc_backchannel_logout(request: Request, config: Config) -> Response:
    return await _backchannel(request, staff_oidc_of(request, config))
