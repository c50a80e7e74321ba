"""Back office for customer service: queue, case view, override, shipments, SLA dashboard,
search, customer changes (moves), terms of use and acting for a customer."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hanport.i18n import N_
from hanport.portal.domain.limits import SEARCH_MAX
from hanport.portal.domain.model import Actor
from hanport.portal.services import views
from hanport.portal.services.acting import (
    ACTING_REASON_MAX,
    POA_REF_MAX,
    start_acting,
    stop_acting,
)
from hanport.portal.services.errors import InvalidInput
from hanport.portal.services.lifecycle import override_order
from hanport.portal.services.moves import pending_moves, register_customer_change
from hanport.portal.services.shipments import update_shipment
from hanport.portal.services.terms import DRAFT_FIELDS, draft_fingerprint, preview_or_publish
from hanport.portal.services.tx import utcnow
from hanport.portal.web.common import (
    Config,
    RowId,
    SignedIn,
    StaffActor,
    checked_form,
    lang_of,
    render,
)
from hanport.portal.web.middleware import browser_of

__all__ = ["router"]

router = APIRouter(prefix="/staff", include_in_schema=False)


@router.get("")
async def staff_queue(
    request: Request, actor: StaffActor, config: Config, page: str = "1"
) -> Response:
    # a mangled page number in a bookmarked link shows the first page, not an error
    wanted = int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1
    found = await run_in_threadpool(views.queue_page, config.engine, actor, wanted)
    return render(
        request,
        "staff_queue.html",
        rows=found.rows,
        page=found.page,
        pages=found.pages,
        total=found.total,
        now=utcnow(),
    )


@router.get("/orders/{order_id}")
async def staff_case(
    request: Request, order_id: RowId, actor: StaffActor, config: Config
) -> Response:
    details = await run_in_threadpool(views.case_view, config.engine, actor, order_id)
    return render(request, "staff_case.html", errors={}, form={}, **details)


@router.post("/orders/{order_id}/override")
async def staff_override(
    request: Request, order_id: RowId, actor: StaffActor, config: Config
) -> Response:
    form = await checked_form(request)
    kind, reason = form.get("kind", ""), form.get("reason", "")
    try:
        await run_in_threadpool(
            lambda: override_order(config.engine, actor, order_id, kind=kind, reason=reason)
        )
    except InvalidInput as exc:
        details = await run_in_threadpool(views.case_view, config.engine, actor, order_id)
        errors = exc.field_texts(lang_of(request))
        return render(request, "staff_case.html", 422, errors=errors, form=form, **details)
    return RedirectResponse(f"/staff/orders/{order_id}", status_code=303)


@router.post("/orders/{order_id}/shipment")
async def staff_shipment(
    request: Request, order_id: RowId, actor: StaffActor, config: Config
) -> Response:
    form = await checked_form(request)
    try:
        await run_in_threadpool(
            update_shipment,
            config.engine,
            actor,
            order_id,
            form.get("state", ""),
            form.get("tracking_ref", ""),
        )
    except InvalidInput as exc:
        details = await run_in_threadpool(views.case_view, config.engine, actor, order_id)
        errors = exc.field_texts(lang_of(request))
        return render(request, "staff_case.html", 422, errors=errors, form=form, **details)
    return RedirectResponse(f"/staff/orders/{order_id}", status_code=303)


@router.get("/sla")
async def staff_sla(request: Request, actor: StaffActor, config: Config) -> Response:
    report = await run_in_threadpool(views.sla_report, config.engine, actor)
    return render(request, "staff_sla.html", report=report)


@router.get("/search")
async def staff_search(
    request: Request, actor: StaffActor, config: Config, q: str = ""
) -> Response:
    rows = await run_in_threadpool(views.search_points, config.engine, actor, q)
    return render(request, "staff_search.html", q=q.strip()[:SEARCH_MAX], rows=rows)


async def _moves_page(
    request: Request, config: Config, actor: Actor, status_code: int = 200, **context: Any
) -> Response:
    """The customer change form and the moves waiting to be carried out."""
    moves = await run_in_threadpool(pending_moves, config.engine, actor)
    return render(request, "staff_moves.html", status_code, moves=moves, **context)


@router.get("/moves")
async def staff_moves(request: Request, actor: StaffActor, config: Config) -> Response:
    return await _moves_page(request, config, actor, errors={}, form={}, done=None)


@router.post("/moves")
async def staff_moves_post(request: Request, actor: StaffActor, config: Config) -> Response:
    form = await checked_form(request)
    try:
        change_id = await run_in_threadpool(
            lambda: register_customer_change(
                config.engine,
                actor,
                form.get("metering_point_id", ""),
                effective=form.get("effective_date", ""),
                new_email=form.get("new_email", ""),
                new_name=form.get("new_name", ""),
                new_lang=form.get("new_lang", ""),
            )
        )
    except InvalidInput as exc:
        errors = exc.field_texts(lang_of(request))
        return await _moves_page(request, config, actor, 422, errors=errors, form=form, done=None)
    return await _moves_page(request, config, actor, errors={}, form={}, done=change_id)


async def _terms_page(
    request: Request,
    config: Config,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    preview: Any = None,
    notice: str = "",
) -> Response:
    versions = await run_in_threadpool(views.terms_versions, config.engine)
    fingerprint = draft_fingerprint(**form) if preview is not None and form else ""
    return render(
        request,
        "staff_terms.html",
        status_code,
        versions=versions,
        selected=None,
        form=form or {},
        errors=errors or {},
        preview=preview,
        fingerprint=fingerprint,
        notice=notice,
    )


@router.get("/terms")
async def staff_terms(request: Request, actor: StaffActor, config: Config) -> Response:
    return await _terms_page(request, config)


@router.get("/terms/{version_id}")
async def staff_terms_version(
    request: Request, version_id: RowId, actor: StaffActor, config: Config
) -> Response:
    selected = await run_in_threadpool(views.terms_version, config.engine, version_id)
    published = request.query_params.get("published") == "1"
    return render(request, "staff_terms.html", versions=[], selected=selected, published=published)


@router.post("/terms")
async def staff_terms_publish(request: Request, actor: SignedIn, config: Config) -> Response:
    # customers get as far as the service, which refuses and audits the attempt
    form = await checked_form(request)
    fields = {name: form.get(name, "") for name in DRAFT_FIELDS}
    try:
        step = await run_in_threadpool(preview_or_publish, config.engine, actor, form)
    except InvalidInput as exc:
        errors = exc.field_texts(lang_of(request))
        return await _terms_page(request, config, 422, form=fields, errors=errors)
    if step.published is not None:
        return RedirectResponse(f"/staff/terms/{step.published.id}?published=1", status_code=303)
    notice = ""
    if step.changed_after_preview:
        notice = N_("The form changed after the preview. Check it and publish again.")
    return await _terms_page(request, config, form=fields, preview=step.preview, notice=notice)


def _act_page(
    request: Request,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "staff_act.html",
        status_code,
        form=form or {},
        errors=errors or {},
        reason_max=ACTING_REASON_MAX,
        poa_max=POA_REF_MAX,
    )


def _session_hash(request: Request) -> str:
    signed_in = browser_of(request).signed_in
    return "" if signed_in is None else signed_in.token_hash


@router.get("/act")
async def staff_act(request: Request, actor: StaffActor, mpid: str = "") -> Response:
    return _act_page(request, form={"metering_point_id": mpid[:32]})


@router.post("/act")
async def staff_act_start(request: Request, actor: StaffActor, config: Config) -> Response:
    form = await checked_form(request)
    mpid = form.get("metering_point_id", "").strip()
    try:
        await run_in_threadpool(
            lambda: start_acting(
                config.engine,
                actor,
                _session_hash(request),
                mpid=mpid,
                reason=form.get("reason", ""),
                poa_ref=form.get("poa_ref", ""),
            )
        )
    except InvalidInput as exc:
        errors = exc.field_texts(lang_of(request))
        return _act_page(request, 422, form=form, errors=errors)
    return RedirectResponse(f"/points/{quote(mpid)}", status_code=303)


@router.post("/act/stop")
async def staff_act_stop(request: Request, actor: StaffActor, config: Config) -> Response:
    await checked_form(request)
    await run_in_threadpool(stop_acting, config.engine, actor, _session_hash(request))
    return RedirectResponse("/staff", status_code=303)
