"""Signing in through an OpenID provider (ID-porten): the redirect there, the way back, signing
out there too (RP-initiated logout), and the provider's front- and back-channel logout. Served
only when the configuration has an [oidc] section.

The ID token of the sign-in is the `id_token_hint` of signing out at the provider. It holds the
person's pid, so the portal keeps it in the browser's preferences cookie encrypted (Fernet, with
a key derived from the app's secret), never in the database, and drops it at sign-out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib

from cryptography.fernet import Fernet, InvalidToken
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

__all__ = ["forget_provider_session", "provider_signout_url", "router"]

router = APIRouter(include_in_schema=False)

_PENDING = "oidc"  #: the preferences-cookie entry holding the pending sign-in
_STAFF_PENDING = "oidc_staff"
_SIGNED_IN_AT = "oidc_signout"  #: which provider the session began at, and its sealed ID token


def oidc_of(request: Request, config: PortalConfig) -> OidcSignIn | None:
    """The relying party, made once per app (it caches the provider's metadata and keys)."""
    if config.oidc is None:
        return None
    relying_party = getattr(request.app.state, "oidc", None)
    if not isinstance(relying_party, OidcSignIn):
        relying_party = OidcSignIn(config.engine, config.oidc)
        request.app.state.oidc = relying_party
    return relying_party


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
    # compressed first: the cookie, with the signed preferences around it, stays well under 4 KB
    sealed = _sealer(config).encrypt(zlib.compress(identity.id_token.encode())).decode()
    browser.set_pref(_SIGNED_IN_AT, json.dumps({"rp": key, "idt": sealed}))
    return RedirectResponse("/staff" if actor.is_staff else "/points", status_code=303)


def staff_oidc_of(request: Request, config: PortalConfig) -> StaffOidcSignIn | None:
    if config.staff_oidc is None:
        return None
    relying_party = getattr(request.app.state, "staff_oidc", None)
    if not isinstance(relying_party, StaffOidcSignIn):
        relying_party = StaffOidcSignIn(config.engine, config.staff_oidc)
        request.app.state.staff_oidc = relying_party
    return relying_party


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


def _sealer(config: PortalConfig) -> Fernet:
    """Encrypts the ID token kept in the browser (it holds the pid)."""
    digest = hashlib.sha256(b"hanport-portal-id-token\0" + config.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def forget_provider_session(request: Request) -> None:
    """Drop the kept ID token (a session begun otherwise signs out here only)."""
    if browser_of(request).prefs.get(_SIGNED_IN_AT):
        browser_of(request).set_pref(_SIGNED_IN_AT, "")


async def provider_signout_url(request: Request, config: PortalConfig) -> str | None:
    """Where to send the browser once the portal session has ended: the provider the session
    began at, to end its session too (with `id_token_hint`); None for a session begun with an
    e-mailed code, or when the provider cannot be reached. Forgets the kept ID token."""
    raw = browser_of(request).prefs.get(_SIGNED_IN_AT)
    forget_provider_session(request)
    try:
        kept = json.loads(raw) if raw else {}
        sealed = _sealer(config).decrypt(str(kept.get("idt", "")).encode())
        id_token = zlib.decompress(sealed).decode()
    except (ValueError, InvalidToken, AttributeError, zlib.error):
        return None
    staff = kept.get("rp") == _STAFF_PENDING
    relying_party = staff_oidc_of(request, config) if staff else oidc_of(request, config)
    if relying_party is None:
        return None
    return await run_in_threadpool(relying_party.end_session_url, id_token, lang_of(request))


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
