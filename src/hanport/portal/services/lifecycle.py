"""What happens to an order after intake: its moves through the transition table, who may
reach it, cancel, customer service's override, completion, and the mails that tell of it.

The job runner (hanport.portal.jobs) drives orders with the same functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import meters, order_events, orders, parties, push_watches
from hanport.portal.domain import notes
from hanport.portal.domain.limits import REASON_MAX, too_long
from hanport.portal.domain.model import Action, Actor, Channel, Decision, Operation
from hanport.portal.domain.order_states import (
    OrderEvent,
    OrderState,
    allowed_events,
    next_state,
)
from hanport.portal.domain.port_states import PortEvent
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import authz, notify
from hanport.portal.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Refused,
    Text,
    at_most,
)
from hanport.portal.services.port import move_port, restore_port
from hanport.portal.services.recipients import PROVIDER_LANG, recipient_of
from hanport.portal.services.tx import Tx, transaction

__all__ = [
    "OVERRIDES",
    "apply_event",
    "authorised_order",
    "authorised_order_and",
    "cancel_order",
    "complete_verified",
    "contact_mail",
    "get_order",
    "load_order",
    "moved_order",
    "override_order",
    "overrides_allowed",
    "party",
]


#: an order's move, built once: the new values come as parameters (the SET clause is made of
#: the columns given), the row's id and expected state as `order_key` and `state_was`
_MOVE = (
    update(orders)
    .where(orders.c.id == bindparam("order_key"), orders.c.state == bindparam("state_was"))
    .returning(*orders.c)
)


def apply_event(
    tx: Tx,
    order: Row[Any],
    event: OrderEvent,
    actor: Actor | str,
    note: str = "",
    **fields: Any,
) -> OrderState:
    """Move an order through the transition table, with timeline row and audit entry."""
    return OrderState(moved_order(tx, order, event, actor, note, **fields).state)


def moved_order(
    tx: Tx,
    order: Row[Any],
    event: OrderEvent,
    actor: Actor | str,
    note: str = "",
    **fields: Any,
) -> Row[Any]:
    """`apply_event`, answering with the order's row as the move left it (read by the UPDATE
    itself, not by another statement)."""
    current = OrderState(order.state)
    new = next_state(current, event)
    moved = {"state": new.value, "updated_at": tx.now, **fields}
    row = tx.conn.execute(
        _MOVE, {"order_key": order.id, "state_was": current.value, **moved}
    ).first()
    if row is None:
        raise Conflict(
            N_("The order changed at the same time – reload the page"),
            code="changed_meanwhile",
        )
    label = actor.label if isinstance(actor, Actor) else actor
    tx.conn.execute(
        order_events.insert(),
        {
            "order_id": order.id,
            "at": tx.now,
            "from_state": current.value,
            "to_state": new.value,
            "event": event.value,
            "actor": label,
            "note": note,
        },
    )
    tx.audit(
        actor,
        f"order.{event.value}",
        "order",
        order.id,
        metering_point_id=order.metering_point_id,
        from_state=current.value,
        to_state=new.value,
        note=notes.as_data(note),
    )
    return row


_ORDER = select(orders).where(orders.c.id == bindparam("order_id"))  #: built once


def load_order(conn: Connection, order_id: int) -> Row[Any]:
    row = conn.execute(_ORDER, {"order_id": order_id}).first()
    if row is None:
        raise NotFound(N_("Order not found"))
    return row


def party(conn: Connection, party_id: int) -> Row[Any]:
    return conn.execute(select(parties).where(parties.c.id == party_id)).one()


def authorised_order(
    tx: Tx, actor: Actor, order_id: int, operation: Operation, action_name: str
) -> Row[Any]:
    return authorised_order_and(tx, actor, order_id, operation, action_name, ())[0]


def authorised_order_and(
    tx: Tx,
    actor: Actor,
    order_id: int,
    operation: Operation,
    action_name: str,
    also: tuple[Operation, ...],
) -> tuple[Row[Any], dict[Operation, Decision]]:
    """`authorised_order`, and the decisions on the order's point for the operations `also`
    (what the page offers), decided with the same reads."""
    order = tx.conn.execute(_ORDER, {"order_id": order_id}).first()
    mpid = order.metering_point_id if order is not None else "-"
    today = tx.now.astimezone(OSLO).date()
    _, may, since = authz.holder_view(tx.conn, actor, (operation, *also), mpid, today)
    decision = may[operation]
    if order is None or not decision.allowed:
        # same answer whether the order exists or not: ids cannot be probed
        raise tx.refuse(actor, action_name, "order", order_id, decision.reason)
    if since is not None and order.created_at < since:
        # an order from before the actor's contract period belongs to an earlier customer
        raise tx.refuse(actor, action_name, "order", order_id, "before_contract")
    return order, may


def get_order(engine: Engine, actor: Actor, order_id: int) -> Row[Any]:
    with transaction(engine) as tx:
        return authorised_order(tx, actor, order_id, Operation.VIEW, "order.view")


def cancel_order(engine: Engine, actor: Actor, order_id: int, now: datetime | None = None) -> None:
    with transaction(engine, now) as tx:
        order = authorised_order(tx, actor, order_id, Operation.ORDER, "order.cancel")
        if order.channel == Channel.SYSTEM and not actor.is_staff:
            # the close after a customer change protects the old customer's data; the new
            # holder must not be able to withdraw it
            tx.record_refusal(actor, "order.cancel", "order", order_id, "system_order")
            raise Refused(
                "system_order",
                N_(
                    "This close follows a change of customer and cannot be cancelled by the "
                    "customer"
                ),
                code="system_order",
            )
        if OrderEvent.CANCEL not in allowed_events(OrderState(order.state)):
            raise Conflict(
                N_("The order can no longer be cancelled – the command has been sent"),
                code="not_cancellable",
            )
        by_staff = actor.is_staff
        apply_event(
            tx,
            order,
            OrderEvent.CANCEL,
            actor,
            note=notes.coded("cancelled_by", by="staff" if by_staff else "customer"),
            next_attempt_at=None,
        )
        restore_port(tx, order)
        # the person who ordered (and the holder, for a proxy's order) hears of it, also when
        # someone else withdrew it
        contact_mail(
            tx,
            order,
            "cancelled",
            by_staff=by_staff,
            by=actor.display_name,
        )


OVERRIDES = {
    "retry": OrderEvent.OVERRIDE_RETRY,
    "complete": OrderEvent.OVERRIDE_COMPLETE,
    "fail": OrderEvent.OVERRIDE_FAIL,
}


def overrides_allowed(state: str) -> list[str]:
    """The overrides (OVERRIDES' kinds) an order in `state` allows, for the case page."""
    allowed = allowed_events(OrderState(state))
    return [kind for kind, event in OVERRIDES.items() if event in allowed]


def override_order(
    engine: Engine,
    actor: Actor,
    order_id: int,
    *,
    kind: str,
    reason: str,
    now: datetime | None = None,
) -> OrderState:
    """Customer service ends or restarts an escalated case; the reason is mandatory."""
    reason = reason.strip()
    errors: dict[str, Text | str] = {}
    if kind not in OVERRIDES:
        errors["kind"] = N_("Choose what to do")
    if len(reason) < 5:
        errors["reason"] = N_("Write a reason (at least 5 characters)")
    elif too_long(reason, REASON_MAX):
        errors["reason"] = at_most(REASON_MAX)
    if errors:
        raise InvalidInput(errors)
    with transaction(engine, now) as tx:
        order = authorised_order(tx, actor, order_id, Operation.OVERRIDE, "order.override")
        event = OVERRIDES[kind]
        if event not in allowed_events(OrderState(order.state)):
            raise Conflict(
                N_("The order is in state {state} and cannot be overridden so"),
                code="not_overridable",
                state=order.state,
            )
        fields: dict[str, Any] = {}
        if event is OrderEvent.OVERRIDE_RETRY:
            fields = {"attempts": 0, "next_attempt_at": tx.now}
        elif event is OrderEvent.OVERRIDE_COMPLETE:
            han_capable = tx.conn.execute(
                select(meters.c.han_capable).where(meters.c.id == order.meter_id)
            ).scalar_one()
            if order.action == Action.OPEN and not han_capable:
                # the port of a meter without HAN cannot be open, whatever anyone types
                raise Conflict(
                    N_(
                        "The meter cannot run HAN. Replace the meter before the port can be opened."
                    ),
                    code="meter_not_han_capable",
                )
            fields = {"completed_at": tx.now, "next_attempt_at": None}
            # a manual completion was not read back from the meter: not shown as verified
            done = PortEvent.SET_OPEN if order.action == Action.OPEN else PortEvent.SET_CLOSED
            move_port(tx, order.metering_point_id, done, order.id)
        else:
            fields = {"next_attempt_at": None, "failure_cause": order.failure_cause or "override"}
        new = apply_event(tx, order, event, actor, note=notes.typed(reason), **fields)
        contact_mail(
            tx,
            order,
            "done"
            if new is OrderState.COMPLETED
            else "failed"
            if new is OrderState.FAILED
            else None,
            reason=reason,
        )
        if new is OrderState.FAILED:
            restore_port(tx, order)
        return new


def complete_verified(
    tx: Tx,
    order: Row[Any],
    event: OrderEvent,
    note: str,
    *,
    push_seen: bool,
    look_again_at: datetime | None = None,
) -> None:
    """A verified order is done: COMPLETED, and the done notice says whether the meter's data
    has been seen yet. With `look_again_at`, an open without a push gets a push watch: the job
    runner looks for the first push from then on (see jobs.JobRunner)."""
    apply_event(tx, order, event, "system", note=note, completed_at=tx.now, next_attempt_at=None)
    if look_again_at is not None and not push_seen:
        tx.conn.execute(
            push_watches.insert().values(
                order_id=order.id, since=order.verified_at or tx.now, next_look_at=look_again_at
            )
        )
    # the done notice of an open says whether the meter's data has been seen yet
    push = push_seen if order.action == Action.OPEN else None
    contact_mail(tx, order, "done", push_seen=push)


def _contact(tx: Tx, order: Row[Any]) -> tuple[str, str, str]:
    """The order's contact address (services.recipients decided it at intake), its language
    and the name to greet: the one who ordered, when that is who the address is for (a
    provider: its contact address, in bokmål and English, by the provider's name)."""
    if order.requested_by is not None:
        who = recipient_of(tx.conn, order.requested_by)
        if who.address == order.contact_email:
            lang = who.lang if who.lang == PROVIDER_LANG else order.lang
            return who.address, lang, who.name
    name = tx.conn.execute(
        select(parties.c.display_name).where(parties.c.email == order.contact_email)
    ).scalar()
    return order.contact_email, order.lang, name or ""


def contact_mail(tx: Tx, order: Row[Any], template: str | None, **fields: Any) -> None:
    """Mail the person who ordered and, for an order placed by a proxy, the contract holder:
    the holder must hear that someone acted on their metering point."""
    if template is None:
        return
    recipients: list[tuple[str, str, str]] = []
    if order.contact_email:
        recipients.append(_contact(tx, order))
    if order.on_behalf_of is not None and order.channel != Channel.SYSTEM:
        holder = recipient_of(tx.conn, order.on_behalf_of)
        if holder.address != order.contact_email:
            recipients.append((holder.address, holder.lang, holder.name))
    for address, lang, name in recipients:
        notify.enqueue(
            tx.conn,
            tx.now,
            address,
            template,
            lang,
            for_order=order.id,
            name=name,
            mpid=order.metering_point_id,
            order_id=order.id,
            action=order.action,
            due=order.sla_due_at.astimezone(OSLO).date(),
            **fields,
        )
