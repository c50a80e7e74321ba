"""The sign-in providers' relying parties (one per app) and the provider session a portal
session began at: its ID token kept sealed in the browser, the way to sign out there too.
Imports no router: the sign-in and sign-out pages (web.oidc, web.signin) share it.

The ID token holds the person's pid, so it is kept in the browser's preferences cookie
encrypted (Fernet, a key derived from the app's secret), never in the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Callable
from typing import TypeVar

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from hanport.portal.services.oidc import OidcSignIn, StaffOidcSignIn
from hanport.portal.web.common import PortalConfig, lang_of
from hanport.portal.web.middleware import browser_of

__all__ = [
    "forget_provider_session",
    "keep_provider_session",
    "oidc_of",
    "provider_signout_url",
    "staff_oidc_of",
]

_SIGNED_IN_AT = "oidc_signout"  #: which provider the session began at, and its sealed ID token
_STAFF = "oidc_staff"

T = TypeVar("T")


def oidc_of(request: Request, config: PortalConfig) -> OidcSignIn | None:
    """The customers' relying party, made once per app (it caches the provider's metadata
    and keys); None without an [oidc] section."""
    settings = config.oidc
    if settings is None:
        return None
    return _once(request, "oidc", OidcSignIn, lambda: OidcSignIn(config.engine, settings))


def staff_oidc_of(request: Request, config: PortalConfig) -> StaffOidcSignIn | None:
    """The staff's relying party (the company's own provider), made once per app."""
    settings = config.staff_oidc
    if settings is None:
        return None
    return _once(
        request, "staff_oidc", StaffOidcSignIn, lambda: StaffOidcSignIn(config.engine, settings)
    )


def _once(request: Request, name: str, kind: type[T], make: Callable[[], T]) -> T:
    made = getattr(request.app.state, name, None)
    if not isinstance(made, kind):
        made = make()
        setattr(request.app.state, name, made)
    return made


def keep_provider_session(
    request: Request, config: PortalConfig, *, staff: bool, id_token: str
) -> None:
    """Remember the provider the session began at and its ID token, for signing out there."""
    # compressed first: the cookie, with the signed preferences around it, stays well under 4 KB
    sealed = _sealer(config).encrypt(zlib.compress(id_token.encode())).decode()
    kept = {"rp": _STAFF if staff else "oidc", "idt": sealed}
    browser_of(request).set_pref(_SIGNED_IN_AT, json.dumps(kept))


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
    staff = kept.get("rp") == _STAFF
    relying_party = staff_oidc_of(request, config) if staff else oidc_of(request, config)
    if relying_party is None:
        return None
    return await run_in_threadpool(relying_party.end_session_url, id_token, lang_of(request))
