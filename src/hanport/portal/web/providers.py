"""The back office registers a provider (organisation number, name, contact e-mail) and hands it
the organisation API key shown once; the list shows who is registered."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hanport.portal.domain.model import Actor
from hanport.portal.services.errors import Conflict, InvalidInput
from hanport.portal.services.providers import list_providers, register_provider
from hanport.portal.web.common import Config, StaffActor, checked_form, lang_of, render

__all__ = ["router"]

router = APIRouter(prefix="/staff/providers", include_in_schema=False)


async def _page(
    request: Request,
    config: Config,
    actor: Actor,
    *,
    status_code: int = 200,
    org_key: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    rows = await run_in_threadpool(list_providers, config.engine, actor)
    return render(
        request,
        "staff_providers.html",
        status_code,
        rows=rows,
        org_key=org_key,
        form=form or {},
        errors=errors or {},
    )


@router.get("")
async def providers_page(request: Request, actor: StaffActor, config: Config) -> Response:
    return await _page(request, config, actor)


@router.post("")
async def provider_register(request: Request, actor: StaffActor, config: Config) -> Response:
    form = await checked_form(request)
    fields = (form.get("org_number", ""), form.get("name", ""), form.get("contact_email", ""))
    try:
        registered = await run_in_threadpool(register_provider, config.engine, actor, *fields)
    except InvalidInput as exc:
        errors = exc.field_texts(lang_of(request))
        return await _page(request, config, actor, status_code=422, form=form, errors=errors)
    except Conflict as exc:  # the organisation is registered already
        errors = {"org_number": exc.text(lang_of(request))}
        return await _page(request, config, actor, status_code=409, form=form, errors=errors)
    return await _page(request, config, actor, org_key=registered.org_key)
