"""What every page handler shares: the app's settings, the signed-in person, the language, the
CSRF-checked form and rendering. Imports no router, so every router may import it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hanport.i18n import N_
from hanport.portal.domain.limits import CONTROL_CHARACTERS, ROW_ID_MAX, has_control_characters
from hanport.portal.domain.model import Actor
from hanport.portal.domain.order_states import FINAL_STATES
from hanport.portal.domain.shipments import DEMO_PICKUP_PLACES, PickupPlace
from hanport.portal.domain.sla import REGULATOR_WORKING_DAYS
from hanport.portal.services import authz
from hanport.portal.services.access_requests import DEFAULT_EXPIRE_AFTER
from hanport.portal.services.errors import InvalidInput, Refused
from hanport.portal.services.oidc import OidcSettings, StaffOidcSettings
from hanport.portal.services.signin import SignInMethod
from hanport.portal.web.i18n import DEFAULT_LANG, LANGS, templates
from hanport.portal.web.middleware import CookieSecure, browser_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "Config",
    "NotSignedIn",
    "PortalConfig",
    "SignedIn",
    "StaffActor",
    "actor_of",
    "checked_form",
    "config_of",
    "csrf_token",
    "lang_of",
    "local_redirect",
    "plain_url",
    "render",
    "require_actor",
]


@dataclass
class PortalConfig:
    engine: Engine
    secret_key: str
    #: Secure (and __Host-) cookies: auto = when the request came over https (directly or from a
    #: trusted proxy's X-Forwarded-Proto), always, or never
    cookie_secure: CookieSecure = "auto"
    #: how people prove who they are; None = a code by e-mail
    signin: SignInMethod | None = None
    #: sign-in through an OpenID provider (ID-porten), offered first; None = not offered
    oidc: OidcSettings | None = None
    #: staff sign-in through the company's own OpenID provider; None = not offered
    staff_oidc: StaffOidcSettings | None = None
    #: started with the app (order runner, outbox, moves); None = run elsewhere
    background: Callable[[], Coroutine[Any, Any, None]] | None = None
    #: where a HAN module may be picked up ([[pickup.places]]; the demo's by default)
    pickup_places: tuple[PickupPlace, ...] = DEMO_PICKUP_PLACES
    #: a provider's unanswered access request expires then ([providers] request_expire_days)
    access_request_expire_after: timedelta = DEFAULT_EXPIRE_AFTER
    #: an order's deadline in working days ([sla] working_days)
    sla_working_days: int = REGULATOR_WORKING_DAYS


def config_of(request: Request) -> PortalConfig:
    """The settings the app was composed with (app.state.config)."""
    return cast(PortalConfig, request.app.state.config)


def sign_in_method(request: Request) -> SignInMethod:
    return cast(SignInMethod, request.app.state.signin)


Config = Annotated[PortalConfig, Depends(config_of)]


def lang_of(request: Request) -> str:
    """The language chosen in this browser, else the signed-in person's, else bokmål."""
    browser = browser_of(request)
    lang = browser.prefs.get("lang") or (browser.signed_in.lang if browser.signed_in else None)
    return lang if lang in LANGS else DEFAULT_LANG


def csrf_token(request: Request) -> str:
    return browser_of(request).csrf_token()


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after checking its CSRF token against the session's, and that no field
    holds a control character (NUL, …; domain.limits): refused for every form here, before any
    service or database sees it (PostgreSQL refuses NUL in text), with an explained 422 page."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    expected = csrf_token(request)
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged token could)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Refused(
            "csrf",
            N_(
                "The form has expired or did not come from this site. Reload the page and try "
                "again."
            ),
            code="form_expired",
        )
    fields = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    unwritten = [key for key, value in fields.items() if has_control_characters(key + value)]
    if unwritten:
        raise InvalidInput(dict.fromkeys(unwritten, CONTROL_CHARACTERS))
    return fields


def plain_url(request: Request) -> None:
    """Every route's dependency (web.app): a path or query parameter holding a control
    character (a search box's NUL, …; domain.limits) is refused with 422, never sent on to a
    service or the database."""
    named = [*request.path_params.items(), *request.query_params.multi_items()]
    unwritten = [str(key) for key, value in named if has_control_characters(f"{key}{value}")]
    if unwritten:
        raise InvalidInput(dict.fromkeys(unwritten, CONTROL_CHARACTERS))


def actor_of(request: Request) -> Actor | None:
    """The signed-in person, with role and name as the database has them for this request."""
    signed_in = browser_of(request).signed_in
    return None if signed_in is None else signed_in.actor


class NotSignedIn(Exception):
    """A page for signed-in people was asked for without a session: go and sign in."""


def require_actor(request: Request) -> Actor:
    actor = actor_of(request)
    if actor is None:
        raise NotSignedIn
    return actor


def require_staff(request: Request) -> Actor:
    actor = require_actor(request)
    authz.require_staff(actor)
    return actor


SignedIn = Annotated[Actor, Depends(require_actor)]
StaffActor = Annotated[Actor, Depends(require_staff)]
#: a row's number in a path: larger than the table's keys is invalid input, not a crash
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]


def local_redirect(target: str, fallback: str = "/") -> RedirectResponse:
    """303 to a path on this site; anything else (another host, //host) goes to `fallback`."""
    local = target.startswith("/") and not target.startswith("//")
    return RedirectResponse(target if local else fallback, status_code=303)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    return templates(lang).TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "csrf": csrf_token(request),
            "actor": actor_of(request),
            "final_states": {s.value for s in FINAL_STATES},
            "pickup_places": config_of(request).pickup_places,
            **context,
        },
        status_code=status_code,
    )
