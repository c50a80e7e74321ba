"""The port service's web app: customer pages, back office and the REST API for third parties.

Server-rendered (Jinja2), usable without JavaScript. Sessions live in the database (the
cookie holds only a random token, see services.sessions and web.middleware); every form carries a
CSRF token bound to the session (before sign-in: to the visitor's signed preferences cookie);
every object access goes through services.authz.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from hanport.portal.db.schema import orders, parties
from hanport.portal.domain.model import Actor, Channel, Operation
from hanport.portal.domain.order_states import FINAL_STATES
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import authz, queries, sessions
from hanport.portal.services.errors import Conflict, InvalidInput, PortalError, Refused
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.lifecycle import authorised_order, cancel_order
from hanport.portal.services.proxies import invite_proxy, revoke_proxy
from hanport.portal.services.signin import EmailCodeSignIn, SignInMethod
from hanport.portal.services.terms import accepted_terms, changes_since, current_terms
from hanport.portal.services.tx import transaction, utcnow
from hanport.portal.web.i18n import LANGS, templates, terms_language
from hanport.portal.web.middleware import (
    CookieSecure,
    SecurityHeaders,
    SessionCookies,
    browser_of,
)

__all__ = ["PortalConfig", "create_app"]


@dataclass
class PortalConfig:
    engine: Engine
    secret_key: str
    #: Secure (and __Host-) cookies: auto = when the request came over https (directly or from a
    #: trusted proxy's X-Forwarded-Proto), always, or never
    cookie_secure: CookieSecure = "auto"
    signin: SignInMethod | None = None
    #: started with the app (order runner, outbox, moves); None = run elsewhere
    background: Callable[[], Coroutine[Any, Any, None]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def lang_of(request: Request) -> str:
    """The language chosen in this browser, else the signed-in person's, else bokmål."""
    browser = browser_of(request)
    lang = browser.prefs.get("lang") or (browser.signed_in.lang if browser.signed_in else None)
    return lang if lang in LANGS else "nb"


def csrf_token(request: Request) -> str:
    return browser_of(request).csrf_token()


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after checking its CSRF token against the session's."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    expected = csrf_token(request)
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged token could)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Refused(
            "csrf",
            "Skjemaet er utløpt eller kom ikke fra denne siden. Last siden på nytt og prøv igjen.",
            "The form has expired or did not come from this site. Reload the page and try again.",
        )
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


def actor_of(request: Request) -> Actor | None:
    """The signed-in person, with role and name as the database has them for this request."""
    signed_in = browser_of(request).signed_in
    return None if signed_in is None else signed_in.actor


class NotSignedIn(Exception):
    pass


def require_actor(request: Request) -> Actor:
    actor = actor_of(request)
    if actor is None:
        raise NotSignedIn
    return actor


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
            **context,
        },
        status_code=status_code,
    )


def create_app(config: PortalConfig) -> FastAPI:
    engine = config.engine
    signin = config.signin or EmailCodeSignIn(engine, config.secret_key.encode())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if config.background is not None:
            task = asyncio.create_task(config.background())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="hanport portal API",
        version="1",
        description="Open and close the HAN port on behalf of a customer, with a power of "
        "attorney (scope act) or as the contract holder. Bearer token from My page → API keys.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(
        SessionCookies,
        secret_key=config.secret_key,
        cookie_secure=config.cookie_secure,
        load_session=lambda token: sessions.load_session(engine, token),
    )
    app.add_middleware(SecurityHeaders)
    app.state.config = config
    # imported here: they build on this module. The API's routes come first: routing tries
    # routes in order, and the API is what third parties call in bulk
    from hanport.portal.web import api, staff, tokens

    api.install(app, engine)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        if request.url.path.startswith("/api/"):
            return api.error_response(exc, api.language(request))
        return render(
            request, "error.html", status_code=exc.status, message=exc.text(lang_of(request))
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # the API's bodies are checked by FastAPI before our code runs: answer like our own
        # field errors (both languages, the API's field names), not FastAPI's English default
        error = api.invalid_input(exc)
        if request.url.path.startswith("/api/"):
            return api.error_response(error, api.language(request))
        return render(
            request, "error.html", status_code=error.status, message=error.text(lang_of(request))
        )

    # -- language and sign-in ------------------------------------------------------------------
    @app.get("/lang/{code}", include_in_schema=False)
    async def set_lang(request: Request, code: str, next: str = "/") -> Response:
        if code in LANGS:
            browser_of(request).set_pref("lang", code)
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        return RedirectResponse(target, status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        actor = actor_of(request)
        if actor is None:
            return RedirectResponse("/signin", status_code=303)
        return RedirectResponse("/staff" if actor.is_staff else "/points", status_code=303)

    @app.get("/signin", include_in_schema=False)
    async def signin_page(request: Request) -> Response:
        return render(request, "signin.html", step="email", email="", errors={})

    @app.post("/signin", include_in_schema=False)
    async def signin_start(request: Request) -> Response:
        form = await checked_form(request)
        email = form.get("email", "").strip()
        try:
            client = request.client.host if request.client else None
            await run_in_threadpool(signin.start, email, None, client)
        except InvalidInput as exc:
            return render(
                request,
                "signin.html",
                422,
                step="email",
                email=email,
                errors=exc.field_texts(lang_of(request)),
            )
        return render(request, "signin.html", step="code", email=email, errors={})

    @app.post("/signin/code", include_in_schema=False)
    async def signin_finish(request: Request) -> Response:
        form = await checked_form(request)
        email = form.get("email", "").strip()
        try:
            identity = await run_in_threadpool(signin.finish, email, form.get("code", ""))
        except InvalidInput as exc:
            return render(
                request,
                "signin.html",
                422,
                step="code",
                email=email,
                errors=exc.field_texts(lang_of(request)),
            )

        def begin() -> tuple[str, str]:
            with engine.connect() as conn:
                role = conn.execute(
                    select(parties.c.role).where(parties.c.id == identity.party_id)
                ).scalar_one()
            token = sessions.start_session(
                engine,
                identity.party_id,
                method=identity.method,
                user_agent=request.headers.get("user-agent", ""),
            )
            return token, role

        browser = browser_of(request)
        if browser.session_token is not None:
            # signing in again ends the session this browser had; never carry one over
            await run_in_threadpool(sessions.end_session, engine, browser.session_token)
        token, role = await run_in_threadpool(begin)
        browser.begin_session(token)  # a new token at every sign-in: no session fixation
        return RedirectResponse("/staff" if role == "staff" else "/points", status_code=303)

    @app.post("/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        await checked_form(request)
        browser = browser_of(request)
        if browser.session_token is not None:
            await run_in_threadpool(sessions.end_session, engine, browser.session_token)
        browser.end_session()
        return RedirectResponse("/signin", status_code=303)

    @app.get("/sessions", include_in_schema=False)
    async def sessions_page(request: Request) -> Response:
        actor = require_actor(request)
        live = await run_in_threadpool(sessions.live_sessions, engine, actor)
        current = browser_of(request).signed_in
        return render(
            request,
            "sessions.html",
            sessions=live,
            current=current.token_hash if current else None,
        )

    @app.post("/signout/everywhere", include_in_schema=False)
    async def signout_everywhere(request: Request) -> Response:
        actor = require_actor(request)
        await checked_form(request)
        await run_in_threadpool(sessions.end_all_sessions, engine, actor)
        browser_of(request).end_session()
        return RedirectResponse("/signin", status_code=303)

    # -- customer pages ------------------------------------------------------------------------
    @app.get("/points", include_in_schema=False)
    async def my_points(request: Request) -> Response:
        actor = require_actor(request)

        def load() -> list[dict[str, Any]]:
            today = utcnow().astimezone(OSLO).date()
            with engine.connect() as conn:
                found = []
                for mpid, how, _ in authz.viewable_points(conn, actor, today):
                    summary = queries.point_summary(conn, mpid)
                    if summary is not None:
                        summary["how"] = how
                        summary["active_order"] = queries.active_order(
                            conn, mpid, since=authz.view_from(conn, actor, mpid, today)
                        )
                        found.append(summary)
                return found

        return render(request, "points.html", points=await run_in_threadpool(load))

    async def point_with_errors(
        request: Request, actor: Actor, mpid: str, exc: InvalidInput, form: Any
    ) -> Response:
        """The point page again, with the form as filled in and what was wrong with it."""
        # an order form shown before the terms changed also says what changed
        context = await run_in_threadpool(point_context, actor, mpid, shown_terms_id(form))
        errors = exc.field_texts(lang_of(request))
        return render(request, "point.html", 422, errors=errors, form=form, **context)

    def shown_terms_id(form: dict[str, str]) -> int | None:
        text = form.get("terms_version_id", "")
        # ASCII digits only: str.isdigit() also accepts '²', which int() refuses
        return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None

    def point_context(actor: Actor, mpid: str, seen_terms: int | None = None) -> dict[str, Any]:
        """The point page's data; `seen_terms`: the version the customer's form showed."""
        with transaction(engine) as tx:
            today = tx.now.astimezone(OSLO).date()
            decision = authz.decide(tx.conn, actor, Operation.VIEW, mpid, today)
            summary = queries.point_summary(tx.conn, mpid) if decision.allowed else None
            if summary is None:
                raise tx.refuse(actor, "point.view", "metering_point", mpid, decision.reason)
            may_order = authz.decide(tx.conn, actor, Operation.ORDER, mpid, today).allowed
            may_manage = authz.decide(tx.conn, actor, Operation.MANAGE_PROXIES, mpid, today).allowed
            terms = current_terms(tx.conn, tx.now)
            last_terms = seen_terms
            if last_terms is None and actor.party_id is not None:
                last_terms = tx.conn.execute(
                    select(orders.c.terms_version_id)
                    .where(
                        orders.c.requested_by == actor.party_id,
                        orders.c.terms_version_id.is_not(None),
                    )
                    .order_by(orders.c.id.desc())
                ).scalar()
            since = authz.view_from(tx.conn, actor, mpid, today)
            return {
                "point": summary,
                "orders": queries.orders_for_point(tx.conn, mpid, since=since),
                "active_order": queries.active_order(tx.conn, mpid, since=since),
                "may_order": may_order,
                "may_manage": may_manage,
                "proxies": queries.proxies_for_point(
                    tx.conn, mpid, None if actor.is_staff else actor.party_id
                )
                if may_manage
                else [],
                "terms": terms,
                # what changed since the version this person last accepted (or just saw)
                "terms_changes": changes_since(tx.conn, last_terms, tx.now)
                if last_terms is not None and terms is not None and last_terms != terms.id
                else [],
                "today": today,
            }

    @app.get("/points/{mpid}", include_in_schema=False)
    async def point_page(request: Request, mpid: str) -> Response:
        actor = require_actor(request)
        context = await run_in_threadpool(point_context, actor, mpid)
        return render(request, "point.html", errors={}, form={}, **context)

    @app.post("/points/{mpid}/orders", include_in_schema=False)
    async def order_submit(request: Request, mpid: str) -> Response:
        actor = require_actor(request)
        form = await checked_form(request)
        req = OrderRequest(
            metering_point_id=mpid,
            action=form.get("action", ""),
            terms_version_id=form.get("terms_version_id"),
            declaration=form.get("declaration"),
            module_option=form.get("module_option"),
            terms_accepted=form.get("terms_accepted") == "yes",
            terms_lang=terms_language(lang_of(request)),  # the terms the page showed
        )
        channel = Channel.BACKOFFICE if actor.is_staff else Channel.PORTAL
        try:
            order_id = await run_in_threadpool(submit_order, engine, actor, req, channel)
        except InvalidInput as exc:
            return await point_with_errors(request, actor, mpid, exc, form)
        except Conflict as exc:
            seen = shown_terms_id(form)
            context = await run_in_threadpool(point_context, actor, mpid, seen)
            terms = context["terms"]
            if req.action != "open" or terms is None or seen == terms.id:
                raise  # not about the terms: the error page says what it is
            # the terms changed while the form was open: keep the person's choices, show the
            # new terms and what changed, and ask for the acceptance again
            kept = {k: v for k, v in form.items() if k in ("declaration", "module_option")}
            return render(
                request,
                "point.html",
                409,
                errors={"terms_accepted": exc.text(lang_of(request))},
                form=kept,
                **context,
            )
        return RedirectResponse(f"/orders/{order_id}", status_code=303)

    @app.get("/orders/{order_id}", include_in_schema=False)
    async def order_page(request: Request, order_id: int) -> Response:
        actor = require_actor(request)

        def load() -> dict[str, Any]:
            with transaction(engine) as tx:
                order = authorised_order(tx, actor, order_id, Operation.VIEW, "order.view")
                may_order = authz.decide(
                    tx.conn,
                    actor,
                    Operation.ORDER,
                    order.metering_point_id,
                    tx.now.astimezone(OSLO).date(),
                ).allowed
                return {
                    "order": order,
                    "timeline": queries.timeline(tx.conn, order_id, staff=actor.is_staff),
                    "point": queries.point_summary(tx.conn, order.metering_point_id),
                    "shipment": queries.shipment(tx.conn, order_id),
                    "accepted_terms": accepted_terms(tx.conn, order_id),
                    "may_order": may_order,
                }

        return render(request, "order.html", **await run_in_threadpool(load))

    @app.post("/orders/{order_id}/cancel", include_in_schema=False)
    async def order_cancel(request: Request, order_id: int) -> Response:
        actor = require_actor(request)
        await checked_form(request)
        await run_in_threadpool(cancel_order, engine, actor, order_id)
        return RedirectResponse(f"/orders/{order_id}", status_code=303)

    @app.post("/points/{mpid}/proxies", include_in_schema=False)
    async def proxy_invite(request: Request, mpid: str) -> Response:
        actor = require_actor(request)
        form = await checked_form(request)
        try:
            await run_in_threadpool(
                lambda: invite_proxy(
                    engine,
                    actor,
                    mpid,
                    agent_email=form.get("agent_email", ""),
                    agent_name=form.get("agent_name", ""),
                    scope=form.get("scope", ""),
                    valid_to=form.get("valid_to", ""),
                )
            )
        except InvalidInput as exc:
            return await point_with_errors(request, actor, mpid, exc, form)
        return RedirectResponse(f"/points/{mpid}#proxies", status_code=303)

    @app.post("/proxies/{proxy_id}/revoke", include_in_schema=False)
    async def proxy_revoke(request: Request, proxy_id: int) -> Response:
        actor = require_actor(request)
        form = await checked_form(request)
        await run_in_threadpool(revoke_proxy, engine, actor, proxy_id)
        back = form.get("back", "/points")
        return RedirectResponse(
            back if back.startswith("/") and not back.startswith("//") else "/points",
            status_code=303,
        )

    staff.install(app, engine)
    tokens.install(app, engine)
    return app
