"""The port service's web app, composed: settings, middleware, routers, error handlers and the
background jobs' lifespan. The routes live in one module per area (pages, signin, staff, keys,
api); what they share is in web.common, the error answers in web.errors.

Server-rendered (Jinja2), usable without JavaScript. Sessions live in the database (the
cookie holds only a random token, see services.sessions and web.middleware); every form carries a
CSRF token bound to the session (before sign-in: to the visitor's signed preferences cookie);
every object access goes through services.authz.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress

from fastapi import Depends, FastAPI

from hanport.portal.services import sessions
from hanport.portal.services.signin import EmailCodeSignIn
from hanport.portal.web import (
    api,
    keys,
    move_api,
    moves,
    oidc,
    pages,
    provider_api,
    providers,
    requests,
    signin,
    staff,
)
from hanport.portal.web.common import PortalConfig, plain_url
from hanport.portal.web.errors import EXCEPTION_HANDLERS
from hanport.portal.web.middleware import BodyLimit, SecurityHeaders, SessionCookies

__all__ = ["API_BODY_LIMIT", "FORM_BODY_LIMIT", "PortalConfig", "create_app"]

#: request bodies: an API call is a small JSON object; the largest form is the back office's
#: terms of use (two full texts)
API_BODY_LIMIT = 1024 * 1024
FORM_BODY_LIMIT = 256 * 1024


def _lifespan(config: PortalConfig) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Runs the background jobs (if the config has them) while the app serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(config.background()) if config.background else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    return lifespan


def create_app(config: PortalConfig) -> FastAPI:
    app = FastAPI(
        title="hanport portal API",
        version="1",
        description="Open and close the HAN port on behalf of a customer, with a power of "
        "attorney (scope act) or as the contract holder. Bearer token from My page → API keys.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=_lifespan(config),
        exception_handlers=EXCEPTION_HANDLERS,
        # no path or query parameter with a control character reaches a route (forms: checked_form)
        dependencies=[Depends(plain_url)],
    )
    app.state.config = config
    app.state.signin = config.signin or EmailCodeSignIn(config.engine, config.secret_key.encode())
    app.add_middleware(
        SessionCookies,
        secret_key=config.secret_key,
        cookie_secure=config.cookie_secure,
        load_session=lambda token: sessions.load_session(config.engine, token),
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, default=FORM_BODY_LIMIT, limits={"/api/": API_BODY_LIMIT})
    # routing tries routes in order: the API first, as third parties call it in bulk
    areas = (api, provider_api, move_api, pages, moves, requests, signin, oidc, providers, staff)
    for area in (*areas, keys):
        app.include_router(area.router)
    return app
