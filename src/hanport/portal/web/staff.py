"""Back office for customer service: queue, case view, override, SLA dashboard, search, moves,
terms of use."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import NoResultFound
from starlette.concurrency import run_in_threadpool

from hanport.portal.db.schema import shipments
from hanport.portal.domain.model import Actor
from hanport.portal.services import queries
from hanport.portal.services.errors import Conflict, InvalidInput, NotFound, Refused
from hanport.portal.services.lifecycle import override_order
from hanport.portal.services.moves import register_customer_change
from hanport.portal.services.terms import (
    accepted_terms,
    get_terms,
    list_terms,
    preview_terms,
    publish_terms,
    terms_hash,
)
from hanport.portal.services.tx import transaction, utcnow
from hanport.portal.web.app import checked_form, lang_of, render, require_actor

__all__ = ["install"]

SHIPMENT_STATES = ("requested", "shipped", "delivered", "picked_up")
#: {method: {state: states it may move on to}}; staying in a state updates the tracking ref
SHIPMENT_NEXT: dict[str, dict[str, tuple[str, ...]]] = {
    "post": {"requested": ("shipped",), "shipped": ("delivered",)},
    "pickup": {"requested": ("picked_up",)},
}


def require_staff(request: Request) -> Actor:
    actor = require_actor(request)
    if not actor.is_staff:
        raise Refused(
            "staff_only",
            "Denne siden er bare for kundeservice.",
            "This page is for customer service only.",
        )
    return actor


#: the publish form's fields, in the order of the form
_Result = TypeVar("_Result")

TERMS_FIELDS = ("version", "effective_from", "change_summary", "text_nb", "text_en")


def draft_fingerprint(form: dict[str, str]) -> str:
    """What a preview showed: publishing anything else needs a new preview first."""
    parts = (
        form.get("version", "").strip(),
        form.get("effective_from", "").strip(),
        " ".join(form.get("change_summary", "").split()),
        terms_hash(form.get("text_nb", ""), form.get("text_en", "")),
    )
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def install(app: FastAPI, engine: Engine) -> None:
    @app.get("/staff", include_in_schema=False)
    async def staff_queue(request: Request, page: str = "1") -> Response:
        require_staff(request)
        # a mangled page number in a bookmarked link shows the first page, not an error
        wanted = int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1

        def load() -> queries.QueuePage:
            with engine.connect() as conn:
                return queries.queue(conn, wanted)

        found = await run_in_threadpool(load)
        return render(
            request,
            "staff_queue.html",
            rows=found.rows,
            page=found.page,
            pages=found.pages,
            total=found.total,
            now=utcnow(),
        )

    def case(actor: Actor, order_id: int) -> dict[str, Any]:
        with transaction(engine) as tx:
            # staff may see every case; the view itself is audited (personal data)
            details = queries.case_details(tx.conn, order_id)
            details["accepted_terms"] = accepted_terms(tx.conn, order_id)
            tx.audit(actor, "case.viewed", "order", order_id)
            return details

    @app.get("/staff/orders/{order_id}", include_in_schema=False)
    async def staff_case(request: Request, order_id: int) -> Response:
        actor = require_staff(request)
        try:
            details = await run_in_threadpool(case, actor, order_id)
        except NoResultFound:
            return render(request, "error.html", 404, message=f"#{order_id}?")
        return render(request, "staff_case.html", errors={}, form={}, **details)

    @app.post("/staff/orders/{order_id}/override", include_in_schema=False)
    async def staff_override(request: Request, order_id: int) -> Response:
        actor = require_staff(request)
        form = await checked_form(request)
        try:
            await run_in_threadpool(
                lambda: override_order(
                    engine,
                    actor,
                    order_id,
                    kind=form.get("kind", ""),
                    reason=form.get("reason", ""),
                )
            )
        except InvalidInput as exc:
            details = await run_in_threadpool(case, actor, order_id)
            return render(
                request,
                "staff_case.html",
                422,
                errors=exc.field_texts(lang_of(request)),
                form=form,
                **details,
            )
        return RedirectResponse(f"/staff/orders/{order_id}", status_code=303)

    @app.post("/staff/orders/{order_id}/shipment", include_in_schema=False)
    async def staff_shipment(request: Request, order_id: int) -> Response:
        actor = require_staff(request)
        form = await checked_form(request)
        state = form.get("state", "")
        tracking = form.get("tracking_ref", "").strip()[:64] or None
        if state not in SHIPMENT_STATES:
            raise InvalidInput({"state": ("Velg en gyldig status", "Choose a valid status")})

        def save() -> None:
            with transaction(engine) as tx:
                current = tx.conn.execute(
                    select(shipments.c.method, shipments.c.state)
                    .where(shipments.c.order_id == order_id)
                    .with_for_update()
                ).first()
                if current is None:
                    # nothing to update: no redirect and no audit entry for a shipment that
                    # does not exist
                    raise NotFound(
                        "Bestillingen har ingen forsendelse", "The order has no shipment"
                    )
                if state != current.state and state not in SHIPMENT_NEXT[current.method].get(
                    current.state, ()
                ):
                    raise Conflict(
                        f"Forsendelsen kan ikke gå fra {current.state} til {state}",
                        f"The shipment cannot go from {current.state} to {state}",
                    )
                tx.conn.execute(
                    update(shipments)
                    .where(shipments.c.order_id == order_id)
                    .values(state=state, tracking_ref=tracking, updated_at=tx.now)
                )
                tx.audit(
                    actor, "shipment.updated", "order", order_id, state=state, tracking_ref=tracking
                )

        await run_in_threadpool(save)
        return RedirectResponse(f"/staff/orders/{order_id}", status_code=303)

    @app.get("/staff/sla", include_in_schema=False)
    async def staff_sla(request: Request) -> Response:
        require_staff(request)

        def load() -> queries.SlaReport:
            with engine.connect() as conn:
                return queries.sla_report(conn, utcnow())

        return render(request, "staff_sla.html", report=await run_in_threadpool(load))

    @app.get("/staff/search", include_in_schema=False)
    async def staff_search(request: Request, q: str = "") -> Response:
        require_staff(request)
        q = q.strip()[:100]

        def load() -> list[Any]:
            if len(q) < 2:
                return []
            with engine.connect() as conn:
                return queries.search(conn, q)

        return render(request, "staff_search.html", q=q, rows=await run_in_threadpool(load))

    @app.get("/staff/moves", include_in_schema=False)
    async def staff_moves(request: Request) -> Response:
        require_staff(request)
        return render(request, "staff_moves.html", errors={}, form={}, done=None)

    @app.post("/staff/moves", include_in_schema=False)
    async def staff_moves_post(request: Request) -> Response:
        actor = require_staff(request)
        form = await checked_form(request)
        try:
            change_id = await run_in_threadpool(
                lambda: register_customer_change(
                    engine,
                    actor,
                    form.get("metering_point_id", ""),
                    effective=form.get("effective_date", ""),
                    new_email=form.get("new_email", ""),
                    new_name=form.get("new_name", ""),
                    new_lang=form.get("new_lang", ""),
                )
            )
        except InvalidInput as exc:
            return render(
                request,
                "staff_moves.html",
                422,
                errors=exc.field_texts(lang_of(request)),
                form=form,
                done=None,
            )
        return render(request, "staff_moves.html", errors={}, form={}, done=change_id)

    # -- terms of use ---------------------------------------------------------------------------
    def terms_page(
        request: Request,
        status_code: int = 200,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        preview: Any = None,
        notice: str = "",
    ) -> Response:
        with engine.connect() as conn:
            versions = list_terms(conn, utcnow())
        return render(
            request,
            "staff_terms.html",
            status_code,
            versions=versions,
            selected=None,
            form=form or {},
            errors=errors or {},
            preview=preview,
            fingerprint=draft_fingerprint(form) if preview is not None and form else "",
            notice=notice,
        )

    @app.get("/staff/terms", include_in_schema=False)
    async def staff_terms(request: Request) -> Response:
        require_staff(request)
        return await run_in_threadpool(terms_page, request)

    @app.get("/staff/terms/{version_id}", include_in_schema=False)
    async def staff_terms_version(request: Request, version_id: int) -> Response:
        require_staff(request)

        def load() -> Any:
            with engine.connect() as conn:
                return get_terms(conn, version_id, utcnow())

        return render(
            request,
            "staff_terms.html",
            versions=[],
            selected=await run_in_threadpool(load),
            published=request.query_params.get("published") == "1",
        )

    @app.post("/staff/terms", include_in_schema=False)
    async def staff_terms_publish(request: Request) -> Response:
        # customers get as far as the service, which refuses and audits the attempt
        actor = require_actor(request)
        form = await checked_form(request)
        fields = {name: form.get(name, "") for name in TERMS_FIELDS}
        lang = lang_of(request)

        def with_form(action: Callable[..., _Result]) -> _Result:
            """Preview or publish what the form says."""
            return action(
                engine,
                actor,
                version=fields["version"],
                text_nb=fields["text_nb"],
                text_en=fields["text_en"],
                change_summary=fields["change_summary"],
                effective_from=fields["effective_from"],
            )

        previewed = form.get("step") == "publish" and hmac.compare_digest(
            form.get("fingerprint", ""), draft_fingerprint(form)
        )
        try:
            if not previewed:
                draft = await run_in_threadpool(with_form, preview_terms)
                notice = (
                    ""
                    if form.get("step") != "publish"
                    else (
                        "Skjemaet er endret etter forhåndsvisningen. Se over og publiser igjen."
                        if lang == "nb"
                        else "The form changed after the preview. Check it and publish again."
                    )
                )
                return await run_in_threadpool(
                    lambda: terms_page(request, form=fields, preview=draft, notice=notice)
                )
            published = await run_in_threadpool(with_form, publish_terms)
        except InvalidInput as exc:
            errors = exc.field_texts(lang)
            return await run_in_threadpool(
                lambda: terms_page(request, 422, form=fields, errors=errors)
            )
        return RedirectResponse(f"/staff/terms/{published.id}?published=1", status_code=303)
