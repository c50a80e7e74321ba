"""REST API (OpenAPI at /api/openapi.json) for third-party providers acting with a proxy.

Authentication: `Authorization: Bearer <API key>`; the key acts as the person who created it,
so a provider can do exactly what that person's proxy (or contract) allows — nothing more.
Every failure answers with one body shape (see web.errors and docs/CONTRACTS.md).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field, field_validator

from hanport.i18n import N_, translations
from hanport.portal.domain.limits import (
    CITY_MAX,
    EMAIL_MAX,
    NAME_MAX,
    ROW_ID_MAX,
    STREET_MAX,
)
from hanport.portal.domain.model import (
    Action,
    Channel,
    Language,
    ModuleOption,
    PortState,
    SecurityDeclaration,
    TermsLanguage,
)
from hanport.portal.domain.shipments import (
    PLACE_KEY_MAX,
    PLACE_KEY_PATTERN,
    POSTCODE_PATTERN,
    delivery_of,
)
from hanport.portal.services import views
from hanport.portal.services.acting import require_acting_for
from hanport.portal.services.errors import InvalidInput, NotFound
from hanport.portal.services.intake import OrderRequest
from hanport.portal.services.moves import register_customer_change
from hanport.portal.services.shipments import NOT_A_PLACE, POSTCODE_FORMAT, module_default
from hanport.portal.web.api_common import (
    API_ERRORS,
    ApiBody,
    CurrentActor,
    MeteringPointId,
    explained,
)
from hanport.portal.web.common import Config, RowId
from hanport.portal.web.i18n import NAMES
from hanport.portal.web.notes import note_text

__all__ = ["router"]


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


class OrderIn(ApiBody):
    action: Action
    terms_version_id: int | None = Field(
        None, ge=1, le=ROW_ID_MAX, description="required to open: the current terms"
    )
    terms_accepted: bool = Field(False, description="the customer accepted the terms (open)")
    declaration: SecurityDeclaration | None = None
    module_option: ModuleOption | None = Field(
        None,
        description="required to open, unless the meter has the HAN port built in (Aidon, "
        "Kaifa): then left out means have (no module is needed)",
    )
    terms_lang: TermsLanguage | None = Field(
        None,
        description="the language the customer read the terms in (open): text_nb, text_nn "
        "or text_en of /api/v1/terms/current (nn for a version without text_nn is recorded "
        "as nb)",
    )
    delivery_street: str | None = Field(
        None,
        max_length=STREET_MAX,
        description="module_option post: the street address the module is sent to; leave the "
        "three address fields out to send it to the metering point's address",
    )
    delivery_postcode: str | None = Field(
        None, pattern=POSTCODE_PATTERN, description="module_option post: four digits"
    )
    delivery_city: str | None = Field(
        None, max_length=CITY_MAX, description="module_option post: the postal town"
    )
    pickup_place: str | None = Field(
        None,
        max_length=PLACE_KEY_MAX,
        pattern=PLACE_KEY_PATTERN,
        description="module_option pickup: the place's key from GET /api/v1/pickup-places "
        "(left out: the first place)",
    )

    # a malformed postcode or place is refused in the service's words, not "Invalid value"
    # (the patterns above stay in the OpenAPI, and are checked here first)
    @field_validator("delivery_postcode", mode="before")
    @classmethod
    def _postcode(cls, value: object) -> object:
        if isinstance(value, str) and not re.match(POSTCODE_PATTERN, value):
            raise explained(POSTCODE_FORMAT)
        return value

    @field_validator("pickup_place", mode="before")
    @classmethod
    def _place(cls, value: object) -> object:
        # too long: the limit's own message (max_length) says more
        short = isinstance(value, str) and len(value) <= PLACE_KEY_MAX
        if short and not re.match(PLACE_KEY_PATTERN, str(value)):
            raise explained(NOT_A_PLACE)
        return value


class PickupPlaceOut(BaseModel):
    key: str = Field(description="what an order's pickup_place names")
    name: str
    address: str
    opening_hours: dict[str, str] = Field(description="by language: nb, nn, en")


class ModuleOut(BaseModel):
    """The HAN module ordered with an open, and where it goes."""

    method: str = Field(description="post | pickup")
    state: str = Field(
        description="by post: requested, shipped, delivered; to pick up: requested, ready "
        "(waiting at the place), picked_up"
    )
    tracking_ref: str | None
    delivery_address: str | None = Field(description="by post: street, postcode and town")
    pickup_place: str | None = Field(description="to pick up: the place's name")
    pickup_address: str | None
    opening_hours: dict[str, str] | None = Field(description="to pick up: by language")


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
    module: ModuleOut | None = Field(None, description="the HAN module, if one was ordered")


#: a part of an e-mail address: no @, blank or control character
_EMAIL_PART = r"[^@\s\x00-\x1F\x7F-\x9F]+"


class CustomerChangeIn(ApiBody):
    """A move-out (and optional move-in) from Elhub or the customer system."""

    effective_date: str = Field(
        description="YYYY-MM-DD",
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        json_schema_extra={"format": "date"},
    )
    new_customer_email: str = Field(
        "",
        max_length=EMAIL_MAX,
        pattern=rf"^$|^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$",
        description="empty when the new customer is not known yet",
    )
    new_customer_name: str = Field("", max_length=NAME_MAX)
    new_customer_lang: Language = Language.NB


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
    text_nn: str | None = Field(
        None, description="nynorsk; null: none, nynorsk readers are shown text_nb"
    )
    change_summary: str = Field("", description="what changed from the version before")


OrderId = RowId

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


def _module_out(shipment: Any) -> ModuleOut | None:
    if shipment is None:
        return None
    where = delivery_of(shipment) or {}
    return ModuleOut(
        method=shipment.method,
        state=shipment.state,
        tracking_ref=shipment.tracking_ref,
        delivery_address=where.get("address"),
        pickup_place=where.get("place"),
        pickup_address=where.get("place_address"),
        opening_hours=where.get("hours"),
    )


def _order_out(view: views.OrderView) -> OrderOut:
    order = view.order
    return OrderOut(
        module=_module_out(view.shipment),
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
                # in English, as the stored notes were before they became codes (domain.notes)
                note=note_text(translations("portal", "en"), NAMES, e.note),
            )
            for e in view.timeline
        ],
    )


_POINT_FIELDS = (
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


def _point_out(summary: dict[str, Any], access: str) -> MeteringPointOut:
    return MeteringPointOut(
        metering_point_id=summary["id"],
        access=access,
        **{name: summary[name] for name in _POINT_FIELDS},
    )


@router.get("/terms/current", response_model=TermsOut, tags=["terms"])
def terms_current(config: Config) -> TermsOut:
    terms = views.terms_now(config.engine)
    if terms is None:
        raise NotFound(N_("No terms published"))
    found = {name: getattr(terms, name) for name in TermsOut.model_fields}
    return TermsOut(**{**found, "text_nn": terms.text_nn or None})


@router.get("/pickup-places", response_model=list[PickupPlaceOut], tags=["orders"])
def pickup_places(actor: CurrentActor, config: Config) -> list[PickupPlaceOut]:
    """Where a HAN module may be picked up (an order's `pickup_place` is a place's key)."""
    return [
        PickupPlaceOut(
            key=place.key,
            name=place.name,
            address=place.address,
            opening_hours=place.hours_by_lang(),
        )
        for place in config.pickup_places
    ]


@router.get("/metering-points", response_model=list[MeteringPointOut], tags=["metering points"])
def list_points(actor: CurrentActor, config: Config) -> list[MeteringPointOut]:
    return [_point_out(p, p["how"]) for p in views.viewable_points(config.engine, actor)]


@router.get("/metering-points/{mpid}", response_model=MeteringPointOut, tags=["metering points"])
def get_point(mpid: MeteringPointId, actor: CurrentActor, config: Config) -> MeteringPointOut:
    return _point_out(*views.point_access(config.engine, actor, mpid))


@router.post(
    "/metering-points/{mpid}/orders",
    response_model=OrderOut,
    status_code=201,
    tags=["orders"],
    responses={
        200: {"description": "the order an earlier request with this Idempotency-Key placed"}
    },
)
def create_order(
    mpid: MeteringPointId,
    body: OrderIn,
    actor: CurrentActor,
    config: Config,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=r"^[!-~]{1,128}$",
            description="a fresh random value per order (1–128 visible ASCII characters): "
            "sent again with the same body within 24 h it answers 200 with the first order; "
            "with another body 409 idempotency_key_reused",
        ),
    ] = None,
) -> OrderOut:
    """Order the HAN port opened or closed (201). Resending it with the same Idempotency-Key
    answers with the first order (200) instead of placing another."""
    order = OrderRequest(
        metering_point_id=mpid,
        action=body.action,
        terms_version_id=body.terms_version_id,
        declaration=body.declaration,
        module_option=module_default(config.engine, mpid, body.action, body.module_option),
        terms_accepted=body.terms_accepted,
        terms_lang=body.terms_lang,
        idempotency_key=idempotency_key,
        delivery_street=body.delivery_street,
        delivery_postcode=body.delivery_postcode,
        delivery_city=body.delivery_city,
        pickup_place=body.pickup_place,
    )
    # a staff key is no way round the explicit "act for the customer" step: refused, audited
    require_acting_for(config.engine, actor, mpid=mpid)
    view, created = views.place_and_view(
        config.engine, actor, order, Channel.API, config.pickup_places, config.sla_working_days
    )
    if not created:
        response.status_code = 200
    return _order_out(view)


#: service field names that the customer-change API calls otherwise
_CHANGE_FIELDS = {"new_email": "new_customer_email", "new_name": "new_customer_name"}


@router.post(
    "/metering-points/{mpid}/customer-changes",
    response_model=CustomerChangeOut,
    status_code=201,
    tags=["customer changes"],
)
def customer_change(
    mpid: MeteringPointId, body: CustomerChangeIn, actor: CurrentActor, config: Config
) -> CustomerChangeOut:
    """Register a customer change; on its date the port closes and the old proxies end.
    Customer service or system keys only."""
    try:
        change_id = register_customer_change(
            config.engine,
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


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
def get_order(order_id: OrderId, actor: CurrentActor, config: Config) -> OrderOut:
    return _order_out(views.order_view(config.engine, actor, order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"])
def cancel(order_id: OrderId, actor: CurrentActor, config: Config) -> OrderOut:
    require_acting_for(config.engine, actor, order_id=order_id)  # staff keys: refused
    return _order_out(views.cancel_and_view(config.engine, actor, order_id))
