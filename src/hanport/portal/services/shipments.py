"""Where a HAN module goes (a delivery address by post, a pick-up place), and customer service
recording where it has got to."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import metering_points, meters, orders, shipments
from hanport.portal.domain.limits import CITY_MAX, STREET_MAX, TRACKING_REF_MAX, too_long
from hanport.portal.domain.model import Action, Actor, ModuleOption
from hanport.portal.domain.shipments import (
    POSTCODE_PATTERN,
    DeliveryAddress,
    HanConnection,
    PickupPlace,
    ShipmentState,
    delivery_of,
    han_connection,
    may_move,
)
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import authz
from hanport.portal.services.errors import Conflict, InvalidInput, NotFound, Text, at_most
from hanport.portal.services.lifecycle import contact_mail
from hanport.portal.services.tx import Tx, transaction

__all__ = [
    "DELIVERY_FIELDS",
    "NOT_A_PLACE",
    "POSTCODE_FORMAT",
    "TRACKING_REF_MAX",
    "Delivery",
    "checked_delivery",
    "delivery_of",
    "module_default",
    "store_shipment",
    "update_shipment",
]

#: the order form's and the API's fields that say where the module goes
DELIVERY_FIELDS = ("delivery_street", "delivery_postcode", "delivery_city", "pickup_place")
_POSTCODE = re.compile(POSTCODE_PATTERN)
#: what is wrong with a postcode or a pick-up place (the order form's and the API's words)
POSTCODE_FORMAT = N_("The postcode is four digits, e.g. 6800")
NOT_A_PLACE = N_("Choose one of the pick-up places shown")


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an ordered module goes: by post to `address` (None: the installation's), or to be
    picked up at `place`."""

    method: ModuleOption
    address: DeliveryAddress | None = None
    place: PickupPlace | None = None


_ONE_LINE = N_("Write it on one line, without control characters")


def _control(text: str) -> bool:
    """Line breaks, NUL and the like: an address is one printable line (a label, a mail)."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def _address(
    street: str, postcode: str, city: str, errors: dict[str, Text | str]
) -> DeliveryAddress | None:
    """The address typed in; None when nothing was (then the installation's address is used)."""
    street, postcode, city = street.strip(), postcode.strip(), city.strip()
    if not (street or postcode or city):
        return None
    if not street:
        errors["delivery_street"] = N_("Enter the street address the module is sent to")
    elif too_long(street, STREET_MAX):
        errors["delivery_street"] = at_most(STREET_MAX)
    elif _control(street):
        errors["delivery_street"] = _ONE_LINE
    if not _POSTCODE.match(postcode):
        errors["delivery_postcode"] = POSTCODE_FORMAT
    if not city:
        errors["delivery_city"] = N_("Enter the postal town, e.g. Førde")
    elif too_long(city, CITY_MAX):
        errors["delivery_city"] = at_most(CITY_MAX)
    elif _control(city):
        errors["delivery_city"] = _ONE_LINE
    return DeliveryAddress(street, postcode, city)


def checked_delivery(
    module: ModuleOption | None,
    form: dict[str, str | None],
    places: Sequence[PickupPlace],
    errors: dict[str, Text | str],
) -> Delivery | None:
    """Where the module goes, from the request's DELIVERY_FIELDS; what is wrong is noted in
    `errors` by field. The fields of the method not chosen are ignored (the order form sends
    both). Pick-up without a place chosen is at the first place."""
    if module is ModuleOption.POST:
        street, postcode, city = (form.get(name) or "" for name in DELIVERY_FIELDS[:3])
        return Delivery(module, address=_address(street, postcode, city, errors))
    if module is ModuleOption.PICKUP:
        if not places:
            errors["module_option"] = N_("Pick-up is not offered: choose delivery by post")
            return None
        key = (form.get("pickup_place") or "").strip()
        place = next((p for p in places if p.key == key), None) if key else places[0]
        if place is None:
            errors["pickup_place"] = NOT_A_PLACE
            return None
        return Delivery(module, place=place)
    return None


def module_default(engine: Engine, mpid: str, action: str, module_option: str | None) -> str | None:
    """The API's module choice: an open that names none, for a meter with the HAN port built
    in (Aidon, Kaifa), has no module to send (have); anything else stays as asked (intake then
    asks for a choice where one is needed). Reads the newest meter's brand only then."""
    if module_option or action != Action.OPEN.value:
        return module_option
    with engine.connect() as conn:
        brand = conn.execute(
            select(meters.c.manufacturer)
            .where(meters.c.metering_point_id == mpid)
            .order_by(meters.c.installed_from.desc(), meters.c.id.desc())
            .limit(1)
        ).scalar()
    built_in = han_connection(brand) is HanConnection.BUILT_IN
    return ModuleOption.HAVE.value if built_in else module_option


def store_shipment(
    tx: Tx, actor: Actor, order_id: int, mpid: str, delivery: Delivery | None
) -> None:
    """The shipment of a module ordered with an open: its address or place, as chosen now."""
    if delivery is None:
        return
    values: dict[str, Any] = {}
    if delivery.method is ModuleOption.POST:
        address = delivery.address or _installation_address(tx.conn, mpid)
        values = {
            "address_street": address.street,
            "address_postcode": address.postcode,
            "address_city": address.city,
        }
    elif delivery.place is not None:
        values = {
            "place_name": delivery.place.name,
            "place_address": delivery.place.address,
            "place_hours": json.dumps(delivery.place.hours_by_lang(), ensure_ascii=False),
        }
    tx.conn.execute(
        shipments.insert().values(
            order_id=order_id,
            method=delivery.method.value,
            state=ShipmentState.REQUESTED.value,
            updated_at=tx.now,
            **values,
        )
    )
    tx.audit(actor, "shipment.requested", "order", order_id, method=delivery.method.value)


def _installation_address(conn: Connection, mpid: str) -> DeliveryAddress:
    point = conn.execute(
        select(metering_points.c.street, metering_points.c.postcode, metering_points.c.city).where(
            metering_points.c.id == mpid
        )
    ).one()
    return DeliveryAddress(point.street, point.postcode, point.city)


#: the mail for each step customer service marks (the order's receipt says "ordered")
_MAILS = {
    ShipmentState.SHIPPED: "module_shipped",
    ShipmentState.DELIVERED: "module_delivered",
    ShipmentState.READY: "module_ready",
}


def update_shipment(
    engine: Engine,
    actor: Actor,
    order_id: int,
    state: str,
    tracking_ref: str = "",
    now: datetime | None = None,
) -> None:
    """Move the order's shipment on (domain.shipments) and keep its tracking reference."""
    authz.require_staff(actor)
    try:
        new = ShipmentState(state)
    except ValueError:
        raise InvalidInput({"state": N_("Choose a valid status")}) from None
    if too_long(tracking_ref, TRACKING_REF_MAX):
        raise InvalidInput({"tracking_ref": at_most(TRACKING_REF_MAX)})
    tracking = tracking_ref.strip() or None
    with transaction(engine, now) as tx:
        current = tx.conn.execute(
            select(shipments.c.method, shipments.c.state)
            .where(shipments.c.order_id == order_id)
            .with_for_update()
        ).first()
        if current is None:
            # nothing to update, and no audit entry for a shipment that does not exist
            raise NotFound(N_("The order has no shipment"))
        if not may_move(ModuleOption(current.method), ShipmentState(current.state), new):
            raise Conflict(
                N_("The shipment cannot go from {current} to {new}"),
                code="shipment_transition",
                current=current.state,
                new=new.value,
            )
        tx.conn.execute(
            update(shipments)
            .where(shipments.c.order_id == order_id)
            .values(state=new.value, tracking_ref=tracking, updated_at=tx.now)
        )
        tx.audit(
            actor, "shipment.updated", "order", order_id, state=new.value, tracking_ref=tracking
        )
        mail = _MAILS.get(new)
        if mail is not None and current.state != new.value:
            # the customer hears once per step: when it leaves (with the reference to follow
            # it by), when it is at the door, when it waits at the pick-up place
            order = tx.conn.execute(select(orders).where(orders.c.id == order_id)).one()
            day = tx.now.astimezone(OSLO).date()
            contact_mail(tx, order, mail, tracking_ref=tracking or "–", date=day)
