"""Back office for customer service: queue, case view, override, SLA dashboard, search, moves."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import NoResultFound
from starlette.concurrency import run_in_threadpool

from hanport.portal.db.schema import shipments
from hanport.portal.domain.model import Actor
from hanport.portal.services import queries
from hanport.portal.services.errors import Conflict, InvalidInput, NotFound, Refused
from hanport.portal.services.moves import register_customer_change
from hanport.portal.services.orders import override_order
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


def install(app: FastAPI, engine: Engine) -> None:
    @app.get("/staff", include_in_schema=False)
    async def staff_queue(request: Request, page: str = "1") -> Response:
        require_staff(request)
        # a mangled page number in a bookmarked link shows the first page, not an error
        wanted = int(page) if page.isdigit() and len(page) < 7 else 1

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
