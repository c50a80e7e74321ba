"""REST API (OpenAPI at /api/openapi.json) for third-party providers acting with a proxy.

Authentication: `Authorization: Bearer <API key>`; the key acts as the person who created it,
so a provider can do exactly what that person's proxy (or contract) allows — nothing more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hanport.portal.domain.model import (
    Action,
    Actor,
    Channel,
    ModuleOption,
    Operation,
    PortState,
    SecurityDeclaration,
)
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import authz, queries
from hanport.portal.services.errors import InvalidInput, PortalError
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.lifecycle import authorised_order, cancel_order
from hanport.portal.services.moves import register_customer_change
from hanport.portal.services.terms import current_terms
from hanport.portal.services.tx import transaction, utcnow
from hanport.portal.web.tokens import KeyRejected, KeyUse, actor_for_key

__all__ = ["error_response", "install", "invalid_input", "language"]


class Unauthenticated(PortalError):
    status = 401


class MeteringPointOut(BaseModel):
    metering_point_id: str
    street: str
    postcode: str
    city: str
    meter_id: str
    manufacturer: str
    han_capable: bool
    port: PortState
    port_since: datetime | None
    verified_at: datetime | None
    access: str = Field(description="holder | proxy-view | proxy-act | staff")


class OrderIn(BaseModel):
    action: Action
    terms_version_id: int | None = Field(None, description="required to open: the current terms")
    terms_accepted: bool = Field(False, description="the customer accepted the terms (open)")
    declaration: SecurityDeclaration | None = None
    module_option: ModuleOption | None = None
    terms_lang: Literal["nb", "en"] | None = Field(
        None,
        description="the language the customer read the terms in (open): text_nb or text_en "
        "of /api/v1/terms/current",
    )


class OrderEventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    event: str
    note: str


class OrderOut(BaseModel):
    id: int
    metering_point_id: str
    action: str
    state: str
    created_at: datetime
    sla_due_at: datetime
    completed_at: datetime | None
    push_seen: bool
    failure_cause: str | None
    timeline: list[OrderEventOut]


class CustomerChangeIn(BaseModel):
    """A move-out (and optional move-in) from Elhub or the customer system."""

    effective_date: str = Field(description="YYYY-MM-DD")
    new_customer_email: str = ""
    new_customer_name: str = ""
    new_customer_lang: Literal["nb", "nn", "en"] = "nb"


class CustomerChangeOut(BaseModel):
    id: int
    metering_point_id: str
    effective_date: str


class TermsOut(BaseModel):
    id: int
    version: str
    sha256: str
    effective_from: datetime
    text_nb: str
    text_en: str
    change_summary: str = Field("", description="what changed from the version before")


async def authenticate(
    request: Request,
    authorization: Annotated[str, Header(description="Bearer <API key>")] = "",
) -> Actor:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Mangler API-nøkkel", "Missing API key (Authorization: Bearer)")
    engine: Engine = request.app.state.config.engine
    try:
        # expiry, revocation, scope and last use are checked with the key, in web.tokens;
        # a view key asking to change anything is refused here (403, audited): every write
        # endpoint is covered, including ones added later
        use = KeyUse(token.strip(), request.method, request.url.path)
        return await run_in_threadpool(actor_for_key, engine, use)
    except KeyRejected as exc:
        raise Unauthenticated(exc.nb, exc.en) from None


CurrentActor = Annotated[Actor, Depends(authenticate)]


def language(request: Request) -> str:
    """The API's language from Accept-Language (bokmål unless English is preferred)."""
    choices = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        try:
            weight = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            weight = 0.0
        choices.append((-weight, tag.strip().lower()))
    for _, tag in sorted(choices):
        if tag.startswith(("nb", "no", "nn")):
            return "nb"
        if tag.startswith("en"):
            return "en"
    return "nb"


def error_response(exc: PortalError, lang: str) -> JSONResponse:
    """One error shape for the API: the chosen language plus both, and fields by API name."""
    body: dict[str, Any] = {
        "error": type(exc).__name__,
        "message": exc.text(lang),
        "messages": {"nb": exc.nb, "en": exc.en},
    }
    if isinstance(exc, InvalidInput):
        body["fields"] = exc.field_texts(lang)
        body["field_messages"] = {
            name: {"nb": nb, "en": en} for name, (nb, en) in exc.fields.items()
        }
    return JSONResponse(body, status_code=exc.status)


def _field_error(error: dict[str, Any]) -> tuple[str, str]:
    kind = str(error.get("type", ""))
    expected = str((error.get("ctx") or {}).get("expected", ""))
    if kind == "missing":
        return "Feltet mangler", "The field is missing"
    if kind in ("literal_error", "enum"):
        allowed = expected.replace(" or ", ", ")
        return f"Ugyldig verdi; tillatt: {allowed}", f"Invalid value; allowed: {allowed}"
    if kind.startswith("int"):
        return "Skriv et heltall", "Give a whole number"
    if kind.startswith("bool"):
        return "Skriv true eller false", "Give true or false"
    if kind == "json_invalid":
        return "Ugyldig JSON", "Invalid JSON"
    return "Ugyldig verdi", "Invalid value"


def invalid_input(exc: RequestValidationError) -> InvalidInput:
    """FastAPI's validation errors as our InvalidInput, keyed by the request's field names."""
    fields: dict[str, tuple[str, str]] = {}
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        name = ".".join(location) or "body"
        fields.setdefault(name, _field_error(dict(error)))
    return InvalidInput(fields)


#: service field names that the customer-change API calls otherwise
_CHANGE_FIELDS = {"new_email": "new_customer_email", "new_name": "new_customer_name"}


def install(app: FastAPI, engine: Engine) -> None:
    def order_out(conn: Any, order: Any, actor: Actor) -> OrderOut:
        return order_body(order, queries.timeline(conn, order.id, staff=actor.is_staff))

    def order_body(order: Any, events: list[Any]) -> OrderOut:
        return OrderOut(
            id=order.id,
            metering_point_id=order.metering_point_id,
            action=order.action,
            state=order.state,
            created_at=order.created_at,
            sla_due_at=order.sla_due_at,
            completed_at=order.completed_at,
            push_seen=order.push_seen,
            failure_cause=order.failure_cause,
            timeline=[
                OrderEventOut(
                    at=e.at,
                    from_state=e.from_state,
                    to_state=e.to_state,
                    event=e.event,
                    note=e.note,
                )
                for e in events
            ],
        )

    def point_out(summary: dict[str, Any], access: str) -> MeteringPointOut:
        return MeteringPointOut(
            metering_point_id=summary["id"],
            access=access,
            **{
                k: summary[k]
                for k in (
                    "street",
                    "postcode",
                    "city",
                    "meter_id",
                    "manufacturer",
                    "han_capable",
                    "port",
                    "port_since",
                    "verified_at",
                )
            },
        )

    @app.get("/api/v1/terms/current", response_model=TermsOut, tags=["terms"])
    def terms_current() -> TermsOut:
        with engine.connect() as conn:
            terms = current_terms(conn, utcnow())
        if terms is None:
            raise PortalError("Ingen vilkår publisert", "No terms published")
        return TermsOut(**{k: getattr(terms, k) for k in TermsOut.model_fields})

    @app.get(
        "/api/v1/metering-points", response_model=list[MeteringPointOut], tags=["metering points"]
    )
    def list_points(actor: CurrentActor) -> list[MeteringPointOut]:
        with engine.connect() as conn:
            found = []
            for mpid, how, _ in authz.viewable_points(
                conn, actor, utcnow().astimezone(OSLO).date()
            ):
                summary = queries.point_summary(conn, mpid)
                if summary is not None:
                    found.append(point_out(summary, how))
            return found

    @app.get(
        "/api/v1/metering-points/{mpid}", response_model=MeteringPointOut, tags=["metering points"]
    )
    def get_point(mpid: str, actor: CurrentActor) -> MeteringPointOut:
        with transaction(engine) as tx:
            decision = authz.decide(
                tx.conn, actor, Operation.VIEW, mpid, tx.now.astimezone(OSLO).date()
            )
            summary = queries.point_summary(tx.conn, mpid) if decision.allowed else None
            if summary is None:
                raise tx.refuse(
                    actor, "point.view", "metering_point", mpid, decision.reason, channel="api"
                )
            if actor.is_staff:
                access = "staff"
            else:
                # the same label as the list: holder, proxy-view or proxy-act
                today = tx.now.astimezone(OSLO).date()
                access = next(
                    (
                        how
                        for point, how, _ in authz.viewable_points(tx.conn, actor, today)
                        if point == mpid
                    ),
                    decision.reason,
                )
            return point_out(summary, access)

    @app.post(
        "/api/v1/metering-points/{mpid}/orders",
        response_model=OrderOut,
        status_code=201,
        tags=["orders"],
        responses={
            403: {"description": "not holder or proxy (act)"},
            409: {"description": "state does not allow it"},
            422: {"description": "invalid field"},
        },
    )
    def create_order(mpid: str, body: OrderIn, actor: CurrentActor) -> OrderOut:
        req = OrderRequest(
            metering_point_id=mpid,
            action=body.action,
            terms_version_id=body.terms_version_id,
            declaration=body.declaration,
            module_option=body.module_option,
            terms_accepted=body.terms_accepted,
            terms_lang=body.terms_lang,
        )
        return read_order(actor, submit_order(engine, actor, req, Channel.API))

    def read_order(actor: Actor, order_id: int) -> OrderOut:
        with transaction(engine) as tx:
            order = authorised_order(tx, actor, order_id, Operation.VIEW, "order.view")
            return order_out(tx.conn, order, actor)

    @app.post(
        "/api/v1/metering-points/{mpid}/customer-changes",
        response_model=CustomerChangeOut,
        status_code=201,
        tags=["customer changes"],
        responses={403: {"description": "customer service or system keys only"}},
    )
    def customer_change(
        mpid: str, body: CustomerChangeIn, actor: CurrentActor
    ) -> CustomerChangeOut:
        """Register a customer change; on its date the port closes and the old proxies end."""
        try:
            change_id = register_customer_change(
                engine,
                actor,
                mpid,
                effective=body.effective_date,
                new_email=body.new_customer_email,
                new_name=body.new_customer_name,
                new_lang=body.new_customer_lang,
            )
        except InvalidInput as exc:
            raise InvalidInput(
                {_CHANGE_FIELDS.get(name, name): text for name, text in exc.fields.items()}
            ) from exc
        return CustomerChangeOut(
            id=change_id, metering_point_id=mpid, effective_date=body.effective_date
        )

    @app.get("/api/v1/orders/{order_id}", response_model=OrderOut, tags=["orders"])
    def get_order(order_id: int, actor: CurrentActor) -> OrderOut:
        return read_order(actor, order_id)

    @app.post("/api/v1/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"])
    def cancel(order_id: int, actor: CurrentActor) -> OrderOut:
        cancel_order(engine, actor, order_id)
        return read_order(actor, order_id)
