"""Plain ASGI middlewares (no per-request task): security headers, the browser's cookies and
the cap on request bodies.

Two cookies, both HttpOnly, SameSite=Lax, Path=/:

- the session cookie holds the random token of a server-side session (services.sessions); it is
  set at sign-in only, so a visitor without it is anonymous;
- the preferences cookie, signed with the app's secret, holds what an anonymous visitor needs:
  the chosen language and the CSRF token of the sign-in form.

Both are `Secure`, and named with the `__Host-` prefix (the browser then refuses them from plain
http, from another path or with a Domain), when the request came over https: directly, or from
a trusted reverse proxy that said so in X-Forwarded-Proto (uvicorn sets the scheme from it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanport.portal.services.sessions import ABSOLUTE_LIFETIME, SignedIn

__all__ = [
    "COOKIE_SECURE_MODES",
    "BodyLimit",
    "BodyTooLarge",
    "BrowserState",
    "CookieSecure",
    "SecurityHeaders",
    "SessionCookies",
    "browser_of",
]

#: always: every cookie Secure (https everywhere, also behind a proxy that does not say so);
#: auto: Secure when the request came over https; never: for plain-http setups only
CookieSecure = Literal["always", "auto", "never"]
COOKIE_SECURE_MODES: tuple[str, ...] = get_args(CookieSecure)

SESSION_COOKIE = "hanport_session"
PREFS_COOKIE = "hanport_prefs"
_SECURE_PREFIX = "__Host-"
_PREFS_MAX_AGE_S = 365 * 24 * 3600
_HSTS = (b"strict-transport-security", b"max-age=31536000")
_SCOPE_KEY = "hanport.browser"

_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
_CSP = (
    b"content-security-policy",
    b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the API docs page loads Swagger UI from its CDN, so it gets no CSP
        extra = _HEADERS if scope["path"].startswith("/api/docs") else [*_HEADERS, _CSP]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    header for header in extra if header[0] not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class BrowserState:
    """What the browser's cookies say for one request, and what the response must change."""

    secure: bool  #: cookies of this request are Secure and __Host- named
    csrf_key: bytes
    prefs: dict[str, str]
    session_token: str | None
    signed_in: SignedIn | None = None
    prefs_changed: bool = False
    _new_session: str | None = field(default=None, repr=False)
    _drop_session: bool = False

    def set_pref(self, key: str, value: str) -> None:
        if self.prefs.get(key) != value:
            self.prefs[key] = value
            self.prefs_changed = True

    def csrf_token(self) -> str:
        """The CSRF token forms must carry: bound to the session, or to the anonymous visitor."""
        token = self._new_session or (self.session_token if self.signed_in else None)
        if token is not None:
            # derived, not stored: changes with every session, and a copied preferences
            # cookie is no use against a signed-in person
            return hmac.new(self.csrf_key, token.encode(), hashlib.sha256).hexdigest()
        if not self.prefs.get("csrf"):
            self.set_pref("csrf", secrets.token_urlsafe(32))
        return self.prefs["csrf"]

    def begin_session(self, token: str) -> None:
        self._new_session = token
        self._drop_session = False
        # the anonymous form token is not reused after the next sign-out
        self.set_pref("csrf", secrets.token_urlsafe(32))

    def end_session(self) -> None:
        self.signed_in = None
        self.session_token = None
        self._new_session = None
        self._drop_session = True


def browser_of(connection: HTTPConnection) -> BrowserState:
    state = connection.scope.get(_SCOPE_KEY)
    if not isinstance(state, BrowserState):
        raise RuntimeError("SessionCookies middleware is not installed")
    return state


def request_is_secure(scope: Scope, mode: CookieSecure) -> bool:
    if mode == "always":
        return True
    return mode == "auto" and scope.get("scheme") in ("https", "wss")


class SessionCookies:
    """Reads the two cookies before the app runs, loads the session, writes changes back."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str,
        cookie_secure: CookieSecure,
        load_session: Callable[[str], SignedIn | None],
    ) -> None:
        if cookie_secure not in COOKIE_SECURE_MODES:
            raise ValueError(f"cookie_secure must be one of {COOKIE_SECURE_MODES}")
        self.app = app
        self.mode = cookie_secure
        self.load_session = load_session
        self.prefs_signer = URLSafeTimedSerializer(secret_key, salt="hanport-portal-prefs")
        self.csrf_key = hashlib.sha256(b"hanport-portal-csrf\0" + secret_key.encode()).digest()

    def _prefs(self, raw: str | None) -> dict[str, str]:
        if not raw:
            return {}
        try:
            loaded = self.prefs_signer.loads(raw, max_age=_PREFS_MAX_AGE_S)
        except BadSignature:
            return {}
        if not isinstance(loaded, dict):
            return {}
        return {str(key): str(value) for key, value in loaded.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = request_is_secure(scope, self.mode)
        prefix = _SECURE_PREFIX if secure else ""
        cookies = HTTPConnection(scope).cookies
        token = cookies.get(prefix + SESSION_COOKIE) or None
        state = BrowserState(
            secure=secure,
            csrf_key=self.csrf_key,
            prefs=self._prefs(cookies.get(prefix + PREFS_COOKIE)),
            session_token=token,
        )
        # the REST API authenticates by API key only; cookies mean nothing there
        if token is not None and not scope["path"].startswith("/api/"):
            state.signed_in = await run_in_threadpool(self.load_session, token)
            if state.signed_in is None:
                state.end_session()  # unknown or ended: have the browser forget it
        scope[_SCOPE_KEY] = state

        def cookie(name: str, value: str, max_age: int) -> str:
            flags = "; Secure" if secure else ""
            return (
                f"{prefix}{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{flags}"
            )

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if state._new_session is not None:
                    lifetime = int(ABSOLUTE_LIFETIME.total_seconds())
                    headers.append(
                        "set-cookie", cookie(SESSION_COOKIE, state._new_session, lifetime)
                    )
                elif state._drop_session:
                    headers.append("set-cookie", cookie(SESSION_COOKIE, "", 0))
                if state.prefs_changed:
                    signed = self.prefs_signer.dumps(state.prefs)
                    headers.append("set-cookie", cookie(PREFS_COOKIE, signed, _PREFS_MAX_AGE_S))
                if scope.get("scheme") == "https" or self.mode == "always":
                    headers.setdefault(_HSTS[0].decode(), _HSTS[1].decode())
            await send(message)

        await self.app(scope, receive, send_with_cookies)


class BodyTooLarge(HTTPException):
    """The request body passed its cap; answered 413 (code body_too_large)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"body over {limit} bytes")
        self.limit = limit


class BodyLimit:
    """Caps request bodies by counting the bytes as they arrive, so a declared Content-Length
    and a chunked body are treated alike and nothing past the cap is read or parsed.

    `limits` maps a path prefix to its cap (the longest matching prefix wins); `default` caps
    every other path. Past the cap, reading the body raises BodyTooLarge.
    """

    def __init__(self, app: ASGIApp, *, default: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = sorted(limits.items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        return next((cap for prefix, cap in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit)  # said so up front: read none of it
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
