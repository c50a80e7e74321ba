"""Customer service records where a HAN module sent by post or picked up has got to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import orders, shipments
from hanport.portal.domain.limits import TRACKING_REF_MAX, too_long
from hanport.portal.domain.model import Actor, ModuleOption
from hanport.portal.domain.shipments import ShipmentState, may_move
from hanport.portal.services import authz
from hanport.portal.services.errors import Conflict, InvalidInput, NotFound, at_most
from hanport.portal.services.lifecycle import contact_mail
from hanport.portal.services.tx import transaction

__all__ = ["TRACKING_REF_MAX", "update_shipment"]


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
        if new is ShipmentState.SHIPPED and current.state != new.value:
            # the customer hears once, when it leaves, with the reference to follow it by
            order = tx.conn.execute(select(orders).where(orders.c.id == order_id)).one()
            contact_mail(tx, order, "module_shipped", tracking_ref=tracking or "–")
