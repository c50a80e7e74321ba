"""Order intake: validate, decide and store one order in one short transaction.

An order is stored VALIDATED (or NEEDS_FIELD_WORK) with its timeline, audit entries, port
state, shipment and receipt e-mail, or nothing is stored and the caller gets a PortalError (a
refusal is audited). The metering point is locked first, so two orders for one point are
decided in turn and the later one sees (and may supersede) the earlier; the same request
again from the customer's pages answers with the earlier one instead. Execution against the
head-end is in hanport.portal.jobs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, select

from hanport.i18n import N_
from hanport.portal.db.schema import (
    inserted_id,
    metering_points,
    meters,
    order_events,
    orders,
)
from hanport.portal.domain import notes
from hanport.portal.domain.gsrn import InvalidMeteringPointId, validate_gsrn
from hanport.portal.domain.model import (
    Action,
    Actor,
    Channel,
    Decision,
    ModuleOption,
    Operation,
    PortState,
    SecurityDeclaration,
)
from hanport.portal.domain.order_states import (
    ATTENTION_STATES,
    FINAL_STATES,
    SUPERSEDABLE_STATES,
    OrderEvent,
    OrderState,
)
from hanport.portal.domain.shipments import DEMO_PICKUP_PLACES, PickupPlace
from hanport.portal.domain.sla import OSLO, REGULATOR_WORKING_DAYS, sla_due
from hanport.portal.services import authz, notify
from hanport.portal.services.errors import Conflict, InvalidInput, Text, text
from hanport.portal.services.lifecycle import (
    apply_event,
    complete_verified,
    contact_mail,
    load_order,
    party,
)
from hanport.portal.services.port import move_port, ordered, port_of, port_state_query
from hanport.portal.services.recipients import recipient_from
from hanport.portal.services.shipments import (
    DELIVERY_FIELDS,
    Delivery,
    checked_delivery,
    store_shipment,
)
from hanport.portal.services.terms import current_terms, shown_language
from hanport.portal.services.tx import Tx, transaction

__all__ = [
    "IDEMPOTENCY_KEY_MAX",
    "CheckedOrder",
    "OrderRequest",
    "Placed",
    "place_in",
    "place_order",
    "submit_order",
    "validated",
]

#: the longest idempotency key accepted (the column's width)
IDEMPOTENCY_KEY_MAX = 128
#: how long a key answers with the order it placed (after that it is forgotten), and how long
#: the same request from the customer's pages answers with the point's current order
IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the customer filled in; strings as they came from the form or the API."""

    metering_point_id: str
    action: str
    terms_version_id: str | int | None = None
    declaration: str | None = None
    module_option: str | None = None
    terms_accepted: bool = False
    #: the language the terms were shown in (nb | nn | en); stored with the order (nn as nb
    #: for a version without a nynorsk text)
    terms_lang: str | None = None
    #: the form's hidden key or the API's Idempotency-Key header: the same request again
    #: with it answers with the first order
    idempotency_key: str | None = None
    #: a module by post: the delivery address (all empty: the installation's address)
    delivery_street: str | None = None
    delivery_postcode: str | None = None
    delivery_city: str | None = None
    #: a module to pick up: the place's key (empty: the first configured place)
    pickup_place: str | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """The order a request placed, or the earlier one it repeated (same idempotency key, or
    on the customer's pages the same request as the point's current order)."""

    order_id: int
    repeated: bool


@dataclass(frozen=True, slots=True)
class CheckedOrder:
    """An order request whose fields are valid (from `validated`)."""

    mpid: str
    action: Action
    declaration: SecurityDeclaration | None
    module: ModuleOption | None
    terms_version_id: str | int | None
    terms_lang: str | None
    idempotency_key: str | None
    request_sha256: str
    delivery: Delivery | None = None  #: where the module goes (post or pick-up)


def _valid_key(key: str | None, errors: dict[str, Text | str]) -> str | None:
    """The idempotency key, or None when none was sent; a bad one is noted in `errors`."""
    if key is None or key == "":
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX or not all("!" <= c <= "~" for c in key):
        errors["idempotency_key"] = text(
            N_("The idempotency key must be 1 to {limit} visible ASCII characters"),
            limit=IDEMPOTENCY_KEY_MAX,
        )
        return None
    return key


def _request_sha256(req: OrderRequest, channel: Channel) -> str:
    """What was asked, as a hash: the same key with other content is a client's mistake."""
    asked: dict[str, object] = {
        "metering_point_id": req.metering_point_id.strip(),
        "action": str(req.action),
        "terms_version_id": None if req.terms_version_id is None else str(req.terms_version_id),
        "declaration": req.declaration or None,
        "module_option": req.module_option or None,
        "terms_accepted": req.terms_accepted,
        "terms_lang": req.terms_lang or None,
        "channel": channel.value,
    }
    # where the module goes, only when given: a request without it hashes as it always did
    given = {name: getattr(req, name) for name in DELIVERY_FIELDS if getattr(req, name)}
    if given:
        asked["delivery"] = given
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def validated(
    req: OrderRequest, channel: Channel, places: Sequence[PickupPlace] = DEMO_PICKUP_PLACES
) -> CheckedOrder:
    """The request's fields, checked before any transaction; InvalidInput names what is wrong.
    `places`: where a module may be picked up (the configuration's [[pickup.places]])."""
    errors: dict[str, Text | str] = {}
    key = _valid_key(req.idempotency_key, errors)
    mpid = ""
    try:
        mpid = validate_gsrn(req.metering_point_id)
    except InvalidMeteringPointId as exc:
        errors["metering_point_id"] = Text(exc.message, exc.params)
    try:
        action = Action(req.action)
    except ValueError:
        errors["action"] = N_("Choose open or close")
        action = Action.CLOSE
    declaration = module = delivery = None
    if action is Action.OPEN:
        try:
            declaration = SecurityDeclaration(req.declaration or "")
        except ValueError:
            errors["declaration"] = N_(
                "Confirm where the meter is, so that the data are physically secured"
            )
        try:
            module = ModuleOption(req.module_option or "")
        except ValueError:
            errors["module_option"] = N_(
                "Choose whether you have a HAN module or want it by post / to pick up"
            )
        delivery = checked_delivery(
            module, {name: getattr(req, name) for name in DELIVERY_FIELDS}, places, errors
        )
        if not req.terms_accepted:
            errors["terms_accepted"] = N_("You must accept the terms to open the port")
    if req.terms_lang not in (None, "", "nb", "nn", "en"):
        errors["terms_lang"] = N_("The language must be nb, nn or en")
    if errors:
        raise InvalidInput(errors)
    return CheckedOrder(
        mpid,
        action,
        declaration,
        module,
        req.terms_version_id,
        req.terms_lang or None,
        key,
        _request_sha256(req, channel),
        delivery,
    )


def submit_order(
    engine: Engine,
    actor: Actor,
    req: OrderRequest,
    channel: Channel = Channel.PORTAL,
    now: datetime | None = None,
    places: Sequence[PickupPlace] = DEMO_PICKUP_PLACES,
    sla_working_days: int = REGULATOR_WORKING_DAYS,
) -> int:
    """Validate, authorise and store one order in one short transaction; returns its id (the
    earlier order's when the request repeats one: `place_order`)."""
    return place_order(engine, actor, req, channel, now, places, sla_working_days).order_id


def place_order(
    engine: Engine,
    actor: Actor,
    req: OrderRequest,
    channel: Channel = Channel.PORTAL,
    now: datetime | None = None,
    places: Sequence[PickupPlace] = DEMO_PICKUP_PLACES,
    sla_working_days: int = REGULATOR_WORKING_DAYS,
) -> Placed:
    """Validate, authorise and store one order in one short transaction.

    Raises a PortalError when the order is refused (refusals are audited). The metering point's
    row is locked first (SQLite: the write lock), so two orders for one point are decided in
    turn, the later one seeing the earlier. A request with the idempotency key of an order the
    same person placed within 24 hours answers with that order (`repeated`), or is refused
    (409 idempotency_key_reused) when it asked for something else. From the customer's pages
    (Channel.PORTAL) a request the same as the point's current order, placed by the same person
    within 24 hours, answers with it too, whatever its key (two tabs are two forms).
    """
    channel = Channel(channel)
    fields = validated(req, channel, places)
    with transaction(engine, now) as tx:
        return place_in(tx, actor, fields, channel, sla_working_days)


def place_in(
    tx: Tx,
    actor: Actor,
    fields: CheckedOrder,
    channel: Channel,
    sla_working_days: int = REGULATOR_WORKING_DAYS,
) -> Placed:
    """`place_order` inside the caller's transaction, so it can read the order back in it; the
    order is due `sla_working_days` working days from now ([sla] working_days)."""
    status = _lock_point(tx.conn, fields.mpid)
    today = tx.now.astimezone(OSLO).date()
    holder, decision = authz.holder_and_decision(
        tx.conn, actor, Operation.ORDER, fields.mpid, today
    )
    if not decision.allowed:
        raise tx.refuse(
            actor,
            "order.submit",
            "metering_point",
            fields.mpid,
            decision.reason,
            action=fields.action.value,
        )
    earlier = _earlier_order(tx, actor, fields)
    if earlier is not None:
        return Placed(earlier, repeated=True)
    point = _point_facts(tx, fields, status, holder)
    same = _same_as_current(tx, actor, channel, fields, point.open_orders)
    if same is not None:
        return Placed(same, repeated=True)
    accepted = _check(actor, channel, fields, decision, point, sla_due(tx.now, sla_working_days))
    return Placed(_store(tx, actor, channel, fields, accepted), repeated=False)


def _earlier_order(tx: Tx, actor: Actor, fields: CheckedOrder) -> int | None:
    """The order this person placed with the same idempotency key within the window, if the
    request is the same; the key reused for another request is refused."""
    if fields.idempotency_key is None or actor.party_id is None:
        return None
    earlier = tx.conn.execute(
        select(orders.c.id, orders.c.request_sha256)
        .where(
            orders.c.requested_by == actor.party_id,
            orders.c.idempotency_key == fields.idempotency_key,
            orders.c.created_at > tx.now - IDEMPOTENCY_WINDOW,
        )
        .order_by(orders.c.id.desc())
    ).first()
    if earlier is None:
        return None
    if earlier.request_sha256 != fields.request_sha256:
        raise Conflict(
            N_(
                "This idempotency key was used for another request (order {order_id}). "
                "Send a new key for a new request."
            ),
            code="idempotency_key_reused",
            order_id=earlier.id,
        )
    return int(earlier.id)


def _same_as_current(
    tx: Tx, actor: Actor, channel: Channel, fields: CheckedOrder, open_orders: list[Row[Any]]
) -> int | None:
    """The point's current order when this submit from the customer's pages asks for exactly
    what it asked for (a second tab, a form sent again with a fresh key): the same person, the
    same pages, within the window, and the same request's SHA-256 (action, terms version and
    language, declaration, module choice, delivery address or pick-up place, as sent). Decided
    under the point's lock, so two tabs at the same instant also place one order. An open
    already carried out (verified, waiting for its first push) is not waiting: the port is
    open, and the same open again is refused as already open. The API says what is a repeat
    with its Idempotency-Key instead."""
    if channel is not Channel.PORTAL or actor.party_id is None:
        return None
    waiting = [o for o in open_orders if OrderState(o.state) is not OrderState.VERIFIED]
    if not waiting:
        return None
    current = waiting[-1]  # the newest
    if (
        current.requested_by == actor.party_id
        and current.channel == channel.value
        and current.request_sha256 == fields.request_sha256
        and current.created_at > tx.now - IDEMPOTENCY_WINDOW
    ):
        return int(current.id)
    return None


# The statements every order runs, built once with their parameter `mpid`
_LOCK_POINT = (
    select(metering_points.c.status)
    .where(metering_points.c.id == bindparam("mpid"))
    .with_for_update()
)
#: the newest meter and, beside it, the port's state (without a meter the order is refused,
#: the port then does not matter)
_METER_AND_PORT = (
    select(
        meters.c.id,
        meters.c.han_capable,
        port_state_query(meters.c.metering_point_id).label("port"),
    )
    .where(meters.c.metering_point_id == bindparam("mpid"))
    .order_by(meters.c.installed_from.desc(), meters.c.id.desc())
)
#: the point's orders not in a final state, oldest first
_OPEN_ORDERS = (
    select(orders)
    .where(
        orders.c.metering_point_id == bindparam("mpid"),
        orders.c.state.not_in([s.value for s in FINAL_STATES]),
    )
    .order_by(orders.c.id)
)


def _lock_point(conn: Connection, mpid: str) -> str | None:
    """Hold the metering point until commit: simultaneous orders for it cannot both pass the
    'nothing in progress' check (PostgreSQL row lock; SQLite already holds its write lock).
    Returns the point's status as locked (None: no such point)."""
    status = conn.execute(_LOCK_POINT, {"mpid": mpid}).scalar()
    return None if status is None else str(status)


@dataclass(frozen=True, slots=True)
class _PointFacts:
    """What intake needs to know about a metering point, read inside the order's transaction."""

    status: str | None
    meter: Any  #: the newest installation (id, han_capable), or None
    port: PortState
    open_orders: list[Row[Any]]  #: not final, oldest first
    terms: Row[Any] | None  #: the current terms, for an open
    holder_id: int | None


def _point_facts(
    tx: Tx, fields: CheckedOrder, status: str | None, holder_id: int | None
) -> _PointFacts:
    """`status` as read while locking the point; `holder_id`: the contract holder today, as
    read when the order was authorised."""
    conn, mpid = tx.conn, fields.mpid
    meter = conn.execute(_METER_AND_PORT, {"mpid": mpid}).first()
    open_orders = list(conn.execute(_OPEN_ORDERS, {"mpid": mpid}).all())
    return _PointFacts(
        status=status,
        meter=meter,
        port=port_of(None if meter is None else meter.port),
        open_orders=open_orders,
        terms=current_terms(conn, tx.now) if fields.action is Action.OPEN else None,
        holder_id=holder_id,
    )


@dataclass(frozen=True, slots=True)
class _Accepted:
    """An order that passed every check, with what storing it needs."""

    decision: Decision
    meter: Row[Any]
    open_orders: list[Row[Any]]  #: waiting orders it supersedes
    verified: list[Row[Any]]  #: carried-out opens waiting for a push, completed now
    terms: Row[Any] | None
    holder_id: int | None
    contact_party: int | None
    sla_due_at: datetime
    port: PortState  #: the port as read under the point's lock


def _check(
    actor: Actor,
    channel: Channel,
    fields: CheckedOrder,
    decision: Decision,
    point: _PointFacts,
    sla_from_now: datetime,
) -> _Accepted:
    """Everything that may still refuse an authorised order; raises a PortalError."""
    # a system close after a customer change must go through even when the point was made
    # inactive at move-out: an inactive point with an open port is exactly what it prevents
    if (
        point.status is None
        or point.meter is None
        or (point.status != "active" and channel is not Channel.SYSTEM)
    ):
        raise Conflict(
            N_("The metering point is not active, so the port cannot be changed"),
            code="point_inactive",
        )
    terms = point.terms
    if fields.action is Action.OPEN:
        if terms is None:
            raise Conflict(N_("No terms are published yet"), code="no_terms")
        if str(fields.terms_version_id) != str(terms.id):
            raise Conflict(
                N_("The terms have changed (now version {version}). Read and accept them again."),
                code="terms_changed",
                version=terms.version,
            )
    # an open read back from the meter and only waiting for its first push is carried out: it
    # is completed when the next order takes over, not in the way of it
    done = [o for o in point.open_orders if OrderState(o.state) is OrderState.VERIFIED]
    waiting = [o for o in point.open_orders if OrderState(o.state) is not OrderState.VERIFIED]
    for other in waiting:
        _check_not_in_the_way(other, fields, channel)
    target = PortState.OPEN if fields.action is Action.OPEN else PortState.CLOSED
    if point.port is target and not waiting:
        if target is PortState.OPEN:
            raise Conflict(N_("The HAN port is already open"), code="already_open")
        raise Conflict(N_("The HAN port is already closed"), code="already_closed")
    # a resubmitted order keeps the deadline of the one it replaces: the regulator's three
    # working days run from the first request
    sla_due_at = min(
        [sla_from_now] + [o.sla_due_at for o in waiting if o.action == fields.action.value]
    )
    holder = actor.party_id if decision.reason == "holder" else point.holder_id
    # the person who ordered hears about it; for customer service that is the holder, and
    # a system close after a move is announced by the move notices instead
    contact_party = (
        None if channel is Channel.SYSTEM else (holder if actor.is_staff else actor.party_id)
    )
    return _Accepted(
        decision,
        point.meter,
        waiting,
        done,
        terms if fields.action is Action.OPEN else None,
        holder,
        contact_party,
        sla_due_at,
        point.port,
    )


def _check_not_in_the_way(other: Row[Any], fields: CheckedOrder, channel: Channel) -> None:
    """Refuse the new order when an open order of the point may not be superseded by it."""
    if other.channel == Channel.SYSTEM and channel is not Channel.SYSTEM:
        # the close after a customer change must finish before anyone orders again;
        # superseding it would leave the old customer's port open
        raise Conflict(
            N_(
                "The HAN port is being closed after a change of customer (order {order_id}). "
                "Try again once it is closed."
            ),
            code="closing_after_move",
            order_id=other.id,
        )
    if (
        OrderState(other.state) in ATTENTION_STATES
        and other.action == fields.action.value
        and channel is not Channel.SYSTEM
    ):
        # the same order again must not take the case out of customer service's queue
        # or restart its SLA clock; a different action (or a move's close) still may
        raise Conflict(
            N_(
                "Order {order_id} for the same thing is with customer service. "
                "You will hear when it has been handled."
            ),
            code="with_customer_service",
            order_id=other.id,
        )
    if OrderState(other.state) not in SUPERSEDABLE_STATES:
        raise Conflict(
            N_("Order {order_id} is being carried out right now. Try again in a minute."),
            code="order_in_progress",
            order_id=other.id,
        )


def _store(tx: Tx, actor: Actor, channel: Channel, fields: CheckedOrder, order: _Accepted) -> int:
    """Write an accepted order: row, timeline, audit, what it replaces, shipment, port, receipt."""
    conn = tx.conn
    contact = party(conn, order.contact_party) if order.contact_party is not None else None
    order_id = _insert_order(tx, actor, channel, fields, order, contact)
    tx.audit(
        actor,
        "order.submitted",
        "order",
        order_id,
        metering_point_id=fields.mpid,
        action=fields.action.value,
        channel=channel.value,
        decision=order.decision.reason,
        proxy_id=order.decision.proxy_id,
        terms_version_id=order.terms.id if order.terms else None,
        terms_sha256=order.terms.sha256 if order.terms else None,
        declaration=fields.declaration.value if fields.declaration else None,
    )
    for other in order.verified:
        complete_verified(
            tx,
            other,
            OrderEvent.CONFIRM_WITHOUT_PUSH,
            notes.coded("taken_over", order=order_id),
            push_seen=False,
        )
    for other in order.open_orders:
        apply_event(
            tx,
            other,
            OrderEvent.SUPERSEDE,
            actor,
            note=notes.coded("superseded_by", order=order_id),
        )
        contact_mail(tx, other, "superseded", new_order_id=order_id)
    store_shipment(tx, actor, order_id, fields.mpid, fields.delivery)
    if not order.meter.han_capable:
        apply_event(
            tx,
            load_order(conn, order_id),
            OrderEvent.FIELD_WORK,
            "system",
            note=notes.coded("failure", cause="meter_not_han_capable"),
            failure_cause="meter_not_han_capable",
            next_attempt_at=None,
        )
    else:
        # nothing above moved the port: it is as read under the point's lock
        move_port(tx, fields.mpid, ordered(fields.action), order_id, current=order.port)
    _send_receipts(tx, fields, order, order_id, contact)
    return order_id


def _insert_order(
    tx: Tx,
    actor: Actor,
    channel: Channel,
    fields: CheckedOrder,
    order: _Accepted,
    contact: Row[Any] | None,
) -> int:
    terms = order.terms
    requester = actor.party_id
    order_id = inserted_id(
        tx.conn.execute(
            orders.insert(),  # the values as parameters: no statement to build per order
            {
                "metering_point_id": fields.mpid,
                "meter_id": order.meter.id,
                "action": fields.action.value,
                "state": OrderState.VALIDATED.value,
                "channel": channel.value,
                "requested_by": requester,
                "on_behalf_of": order.holder_id if order.holder_id != requester else None,
                "proxy_id": order.decision.proxy_id,
                "terms_version_id": terms.id if terms else None,
                "terms_accepted_at": tx.now if terms else None,
                "terms_sha256": terms.sha256 if terms else None,
                "terms_lang": shown_language(
                    fields.terms_lang or (contact.lang if contact else "nb"), terms.text_nn
                )
                if terms
                else None,
                "declaration": fields.declaration.value if fields.declaration else None,
                "module_option": fields.module.value if fields.module else None,
                "contact_email": recipient_from(tx.conn, contact).address if contact else "",
                "lang": contact.lang if contact else "nb",
                "attempts": 0,
                "next_attempt_at": tx.now,
                "push_seen": False,
                "sla_due_at": order.sla_due_at,
                "created_at": tx.now,
                "updated_at": tx.now,
                "idempotency_key": fields.idempotency_key,
                "request_sha256": fields.request_sha256,
            },
        )
    )
    tx.conn.execute(
        order_events.insert(),
        {
            "order_id": order_id,
            "at": tx.now,
            "from_state": None,
            "to_state": OrderState.VALIDATED.value,
            "event": "submitted",
            "actor": actor.label,
            "note": notes.coded("submitted", channel=channel.value, access=order.decision.reason),
        },
    )
    return order_id


def _send_receipts(
    tx: Tx, fields: CheckedOrder, order: _Accepted, order_id: int, contact: Row[Any] | None
) -> None:
    """The receipt goes to the person who ordered and, for a proxy's order, to the holder."""
    receipt_to = [contact] if contact is not None else []
    if contact is not None and order.holder_id not in (None, order.contact_party):
        receipt_to.append(party(tx.conn, order.holder_id))
    for person in (recipient_from(tx.conn, row) for row in receipt_to):  # a provider: its contact
        notify.enqueue(
            tx.conn,
            tx.now,
            person.address,
            "receipt",
            person.lang,
            for_order=order_id,
            name=person.name,
            mpid=fields.mpid,
            order_id=order_id,
            action=fields.action.value,
            due=order.sla_due_at,
        )
