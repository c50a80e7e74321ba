"""Orders to open or close the HAN port: intake, cancel, back-office override.

Intake validates and authorises in one transaction: an order is stored VALIDATED (or
NEEDS_FIELD_WORK) with its audit entries, receipt e-mail and port state, or nothing is stored.
Execution against the head-end is in hanport.portal.jobs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, select, update
from sqlalchemy import Sequence as DbSequence

from hanport.portal.db.schema import (
    is_one_of,
    metering_points,
    meters,
    order_events,
    orders,
    outbox,
    parties,
    port_states,
    shipments,
)
from hanport.portal.domain.gsrn import InvalidMeteringPointId, validate_gsrn
from hanport.portal.domain.model import (
    Action,
    Actor,
    Decision,
    ModuleOption,
    Operation,
    PortState,
    SecurityDeclaration,
)
from hanport.portal.domain.order_states import (
    ATTENTION_STATES,
    FINAL_STATES,
    OrderEvent,
    OrderState,
    allowed_events,
    next_state,
)
from hanport.portal.domain.sla import OSLO, sla_due
from hanport.portal.services import authz, notify
from hanport.portal.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PortalError,
    Refused,
)
from hanport.portal.services.terms import current_terms
from hanport.portal.services.tx import Tx, transaction

__all__ = [
    "OrderRequest",
    "Submission",
    "apply_event",
    "cancel_order",
    "complete_verified",
    "override_order",
    "submit_order",
    "submit_orders",
]

CHANNELS = {"portal", "api", "backoffice", "system"}
#: orders not in the head-end's hands, which a newer order may supersede (an escalated or
#: field-work case only by a different action or a move's close; see submit_order)
_WAITING = {
    OrderState.VALIDATED,
    OrderState.RETRYING,
    OrderState.ESCALATED,
    OrderState.NEEDS_FIELD_WORK,
}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the customer filled in; strings as they came from the form or the API."""

    metering_point_id: str
    action: str
    terms_version_id: str | int | None = None
    declaration: str | None = None
    module_option: str | None = None
    terms_accepted: bool = False
    #: the language the terms were shown in (nb | en); stored with the order
    terms_lang: str | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    """One order as it came in: who ordered what, through which channel."""

    actor: Actor
    request: OrderRequest
    channel: str = "portal"


@dataclass(frozen=True, slots=True)
class _Checked:
    """An order request whose fields are valid."""

    mpid: str
    action: Action
    declaration: SecurityDeclaration | None
    module: ModuleOption | None
    terms_version_id: str | int | None
    terms_lang: str | None


@dataclass(frozen=True, slots=True)
class _Pending:
    """A valid order request in a batch, with where its answer goes."""

    index: int
    actor: Actor
    channel: str
    fields: _Checked


def _validated(req: OrderRequest) -> _Checked:
    errors: dict[str, tuple[str, str]] = {}
    mpid = ""
    try:
        mpid = validate_gsrn(req.metering_point_id)
    except InvalidMeteringPointId as exc:
        nb, en = exc.pair()
        errors["metering_point_id"] = (nb, en)
    try:
        action = Action(req.action)
    except ValueError:
        errors["action"] = ("Velg åpne eller stenge", "Choose open or close")
        action = Action.CLOSE
    declaration = module = None
    if action is Action.OPEN:
        try:
            declaration = SecurityDeclaration(req.declaration or "")
        except ValueError:
            errors["declaration"] = (
                "Bekreft hvor måleren står, slik at dataene er fysisk sikret",
                "Confirm where the meter is, so that the data are physically secured",
            )
        try:
            module = ModuleOption(req.module_option or "")
        except ValueError:
            errors["module_option"] = (
                "Velg om du har HAN-modul eller vil få den tilsendt / hente den",
                "Choose whether you have a HAN module or want it by post / to pick up",
            )
        if not req.terms_accepted:
            errors["terms_accepted"] = (
                "Du må godta vilkårene for å åpne porten",
                "You must accept the terms to open the port",
            )
    if req.terms_lang not in (None, "", "nb", "en"):
        errors["terms_lang"] = ("Språket må være nb eller en", "The language must be nb or en")
    if errors:
        raise InvalidInput(errors)
    return _Checked(mpid, action, declaration, module, req.terms_version_id, req.terms_lang or None)


def set_port_state(
    conn: Connection,
    mpid: str,
    state: PortState,
    now: datetime,
    order_id: int | None,
    *,
    push_seen: bool = False,
    verified: bool = False,
) -> None:
    values: dict[str, Any] = {
        "state": state.value,
        "since": now,
        "last_order_id": order_id,
        "push_seen": push_seen,
    }
    if verified:
        values["verified_at"] = now
    if (
        conn.execute(
            update(port_states).where(port_states.c.metering_point_id == mpid).values(**values)
        ).rowcount
        == 0
    ):
        conn.execute(port_states.insert().values(metering_point_id=mpid, **values))


def port_state(conn: Connection, mpid: str) -> PortState:
    row = conn.execute(
        select(port_states.c.state).where(port_states.c.metering_point_id == mpid)
    ).first()
    return PortState.CLOSED if row is None else PortState(row.state)


def apply_event(
    tx: Tx,
    order: Row[Any],
    event: OrderEvent,
    actor: Actor | str,
    note: str = "",
    **fields: Any,
) -> OrderState:
    """Move an order through the transition table, with timeline row and audit entry."""
    current = OrderState(order.state)
    new = next_state(current, event)
    result = tx.conn.execute(
        update(orders)
        .where(orders.c.id == order.id, orders.c.state == current.value)
        .values(state=new.value, updated_at=tx.now, **fields)
    )
    if result.rowcount != 1:
        raise Conflict(
            "Bestillingen ble endret samtidig – last siden på nytt",
            "The order changed at the same time – reload the page",
        )
    label = actor.label if isinstance(actor, Actor) else actor
    tx.conn.execute(
        order_events.insert().values(
            order_id=order.id,
            at=tx.now,
            from_state=current.value,
            to_state=new.value,
            event=event.value,
            actor=label,
            note=note,
        )
    )
    tx.audit(
        actor,
        f"order.{event.value}",
        "order",
        order.id,
        metering_point_id=order.metering_point_id,
        from_state=current.value,
        to_state=new.value,
        note=note,
    )
    return new


def load_order(conn: Connection, order_id: int) -> Row[Any]:
    row = conn.execute(select(orders).where(orders.c.id == order_id)).first()
    if row is None:
        raise NotFound("Fant ikke bestillingen", "Order not found")
    return row


def _contact(conn: Connection, party_id: int) -> Row[Any]:
    return conn.execute(select(parties).where(parties.c.id == party_id)).one()


def submit_order(
    engine: Engine,
    actor: Actor,
    req: OrderRequest,
    channel: str = "portal",
    now: datetime | None = None,
) -> int:
    """Validate, authorise and store an order; returns its id. Raises a PortalError otherwise."""
    result = submit_orders(engine, [Submission(actor, req, channel)], now)[0]
    if isinstance(result, Exception):
        raise result
    return result


def submit_orders(
    engine: Engine, submissions: Sequence[Submission], now: datetime | None = None
) -> list[int | Exception]:
    """Validate, authorise and store several orders in one transaction (group commit).

    Each submission gets its order id or the PortalError that refused it; a refused order does
    not stop the others. Orders for the same metering point are taken in turn, each seeing the
    one before. Any other exception means that order was not stored.
    """
    results: list[int | Exception | None] = [None] * len(submissions)
    waiting: list[_Pending] = []
    for index, submission in enumerate(submissions):
        assert submission.channel in CHANNELS
        try:
            fields = _validated(submission.request)
        except InvalidInput as exc:
            results[index] = exc
            continue
        waiting.append(_Pending(index, submission.actor, submission.channel, fields))
    decided = False
    try:
        with transaction(engine, now) as tx:
            # lock every point of the batch at once, in id order: two batches (web workers)
            # then never wait for each other in a circle, whatever is refused along the way;
            # the lock keeps simultaneous orders for a point from both passing the
            # "nothing in progress" check
            tx.conn.execute(
                select(metering_points.c.id)
                .where(is_one_of(tx.conn, metering_points.c.id, {i.fields.mpid for i in waiting}))
                .order_by(metering_points.c.id)
                .with_for_update()
            ).all()
            while waiting:
                turn: list[_Pending] = []
                later: list[_Pending] = []
                points: set[str] = set()
                for item in waiting:
                    (later if item.fields.mpid in points else turn).append(item)
                    points.add(item.fields.mpid)
                _intake(tx, turn, results)
                waiting = later
            decided = True
    except Exception:
        if len(submissions) == 1 or decided:
            # failing while committing, a batch may or may not be stored: trying its orders
            # again could place them twice
            raise
        # one order's unexpected failure must not cost the others theirs: one at a time
        return [_submit_alone(engine, submission, now) for submission in submissions]
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def _submit_alone(engine: Engine, submission: Submission, now: datetime | None) -> int | Exception:
    try:
        return submit_orders(engine, [submission], now)[0]
    except Exception as exc:  # reported to this order's caller, as submit_orders promises
        return exc


def _intake(tx: Tx, batch: list[_Pending], results: list[int | Exception | None]) -> None:
    """Decide and store orders for distinct metering points in a few statements in all."""
    conn = tx.conn
    today = tx.now.astimezone(OSLO).date()
    holders = authz.active_holders(conn, {item.fields.mpid for item in batch}, today)
    decisions = authz.decide_many(
        conn,
        [(item.actor, item.fields.mpid) for item in batch],
        Operation.ORDER,
        today,
        holders,
    )
    allowed: list[tuple[_Pending, Decision]] = []
    for item, decision in zip(batch, decisions, strict=True):
        if decision.allowed:
            allowed.append((item, decision))
        else:
            results[item.index] = tx.refuse(
                item.actor,
                "order.submit",
                "metering_point",
                item.fields.mpid,
                decision.reason,
                action=item.fields.action.value,
            )
    if not allowed:
        return
    mpids = sorted({item.fields.mpid for item, _ in allowed})  # locked by submit_orders
    status: dict[str, str] = {
        row.id: row.status
        for row in conn.execute(
            select(metering_points.c.id, metering_points.c.status).where(
                is_one_of(conn, metering_points.c.id, mpids)
            )
        )
    }
    meter_of: dict[str, Any] = {}
    for row in conn.execute(
        select(meters.c.id, meters.c.han_capable, meters.c.metering_point_id)
        .where(is_one_of(conn, meters.c.metering_point_id, mpids))
        .order_by(meters.c.installed_from, meters.c.id)
    ):
        meter_of[row.metering_point_id] = row  # the newest installation wins
    port_of: dict[str, str] = {
        row.metering_point_id: row.state
        for row in conn.execute(
            select(port_states.c.metering_point_id, port_states.c.state).where(
                is_one_of(conn, port_states.c.metering_point_id, mpids)
            )
        )
    }
    open_orders_of: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(
        select(orders)
        .where(
            is_one_of(conn, orders.c.metering_point_id, mpids),
            orders.c.state.not_in([s.value for s in FINAL_STATES]),
        )
        .order_by(orders.c.id)
    ):
        open_orders_of[row.metering_point_id].append(row)
    opening = any(item.fields.action is Action.OPEN for item, _ in allowed)
    terms = current_terms(conn, tx.now) if opening else None
    sla_from_now = sla_due(tx.now)

    accepted: list[_Accepted] = []
    for item, decision in allowed:
        try:
            accepted.append(
                _check(
                    item,
                    decision,
                    status.get(item.fields.mpid),
                    meter_of.get(item.fields.mpid),
                    PortState(port_of.get(item.fields.mpid) or PortState.CLOSED),
                    open_orders_of[item.fields.mpid],
                    terms,
                    holders.get(item.fields.mpid),
                    sla_from_now,
                )
            )
        except PortalError as exc:
            results[item.index] = exc
    if accepted:
        _store(tx, accepted, port_of)
        for order in accepted:
            results[order.pending.index] = order.order_id


@dataclass(slots=True)
class _Accepted:
    """An order that passed every check, on its way into the database."""

    pending: _Pending
    decision: Decision
    meter: Row[Any]
    open_orders: list[Row[Any]]  #: waiting orders the new one supersedes
    verified: list[Row[Any]]  #: carried-out opens waiting for a push, completed now
    terms: Row[Any] | None
    holder_id: int | None
    contact_party: int | None
    sla_due_at: datetime
    order_id: int = 0


def _check(
    item: _Pending,
    decision: Decision,
    point_status: str | None,
    meter: Row[Any] | None,
    current_port: PortState,
    open_orders: list[Row[Any]],
    terms: Row[Any] | None,
    holder_id: int | None,
    sla_from_now: datetime,
) -> _Accepted:
    """Everything that may still refuse an authorised order; raises a PortalError."""
    fields, channel = item.fields, item.channel
    # a system close after a customer change must go through even when the point was made
    # inactive at move-out: an inactive point with an open port is exactly what it prevents
    if point_status is None or meter is None or (point_status != "active" and channel != "system"):
        raise Conflict(
            "Målepunktet er ikke aktivt, så porten kan ikke styres",
            "The metering point is not active, so the port cannot be changed",
        )
    if fields.action is Action.OPEN:
        if terms is None:
            raise Conflict("Vilkårene er ikke publisert ennå", "No terms are published yet")
        if str(fields.terms_version_id) != str(terms.id):
            raise Conflict(
                f"Vilkårene er endret (nå versjon {terms.version}). Les og godta dem på nytt.",
                f"The terms have changed (now version {terms.version}). "
                "Read and accept them again.",
            )
    # an open read back from the meter and only waiting for its first push is carried out: it
    # is completed when the next order takes over, not in the way of it
    done = [o for o in open_orders if OrderState(o.state) is OrderState.VERIFIED]
    open_orders = [o for o in open_orders if OrderState(o.state) is not OrderState.VERIFIED]
    for other in open_orders:
        if other.channel == "system" and channel != "system":
            # the close after a customer change must finish before anyone orders again;
            # superseding it would leave the old customer's port open
            raise Conflict(
                f"HAN-porten stenges etter et kundeskifte (bestilling {other.id}). "
                "Prøv igjen når den er stengt.",
                f"The HAN port is being closed after a change of customer (order {other.id})."
                " Try again once it is closed.",
            )
        if (
            OrderState(other.state) in ATTENTION_STATES
            and other.action == fields.action.value
            and channel != "system"
        ):
            # the same order again must not take the case out of customer service's queue
            # or restart its SLA clock; a different action (or a move's close) still may
            raise Conflict(
                f"Bestilling {other.id} om det samme ligger hos kundeservice. "
                "Du får beskjed når den er behandlet.",
                f"Order {other.id} for the same thing is with customer service. "
                "You will hear when it has been handled.",
            )
        if OrderState(other.state) not in _WAITING:
            raise Conflict(
                f"Bestilling {other.id} utføres akkurat nå. Prøv igjen om et minutt.",
                f"Order {other.id} is being carried out right now. Try again in a minute.",
            )
    target = PortState.OPEN if fields.action is Action.OPEN else PortState.CLOSED
    if current_port is target and not open_orders:
        word = ("åpen", "open") if target is PortState.OPEN else ("stengt", "closed")
        raise Conflict(f"HAN-porten er allerede {word[0]}", f"The HAN port is already {word[1]}")
    # a resubmitted order keeps the deadline of the one it replaces: the regulator's three
    # working days run from the first request
    sla_due_at = min(
        [sla_from_now] + [o.sla_due_at for o in open_orders if o.action == fields.action.value]
    )
    holder = item.actor.party_id if decision.reason == "holder" else holder_id
    # the person who ordered hears about it; for customer service that is the holder, and
    # a system close after a move is announced by the move notices instead
    contact_party = (
        None if channel == "system" else (holder if item.actor.is_staff else item.actor.party_id)
    )
    return _Accepted(
        item,
        decision,
        meter,
        open_orders,
        done,
        terms if fields.action is Action.OPEN else None,
        holder,
        contact_party,
        sla_due_at,
    )


def _insert_orders(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert order rows; their ids in the same order."""
    if conn.dialect.name == "postgresql":
        # ids from the sequence first, then one pipelined executemany: a multi-row
        # INSERT … RETURNING of a whole batch is one huge statement that psycopg parses anew
        # each time (about 0.2 ms an order)
        ids = list(
            conn.execute(
                select(DbSequence("orders_id_seq").next_value()).select_from(
                    func.generate_series(1, len(rows))
                )
            ).scalars()
        )
        conn.execute(orders.insert(), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
        return ids
    return list(
        conn.execute(
            orders.insert().returning(orders.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    )


def _store(tx: Tx, batch: list[_Accepted], port_of: dict[str, str]) -> None:
    """Write the accepted orders: rows, timelines, audit, port states, shipments, receipts."""
    conn = tx.conn
    wanted = {o.contact_party for o in batch} | {o.holder_id for o in batch}
    wanted.discard(None)
    people = {
        row.id: row
        for row in conn.execute(
            select(parties).where(
                is_one_of(conn, parties.c.id, [p for p in wanted if p is not None])
            )
        )
    }
    rows = []
    for order in batch:
        item, fields = order.pending, order.pending.fields
        contact = people.get(order.contact_party) if order.contact_party is not None else None
        requester = item.actor.party_id
        rows.append(
            {
                "metering_point_id": fields.mpid,
                "meter_id": order.meter.id,
                "action": fields.action.value,
                "state": OrderState.VALIDATED.value,
                "channel": item.channel,
                "requested_by": requester,
                "on_behalf_of": order.holder_id if order.holder_id != requester else None,
                "proxy_id": order.decision.proxy_id,
                "terms_version_id": order.terms.id if order.terms else None,
                "terms_accepted_at": tx.now if order.terms else None,
                "terms_sha256": order.terms.sha256 if order.terms else None,
                "terms_lang": (fields.terms_lang or (contact.lang if contact else "nb"))
                if order.terms
                else None,
                "declaration": fields.declaration.value if fields.declaration else None,
                "module_option": fields.module.value if fields.module else None,
                "contact_email": contact.email if contact else "",
                "lang": contact.lang if contact else "nb",
                "attempts": 0,
                "next_attempt_at": tx.now,
                "push_seen": False,
                "sla_due_at": order.sla_due_at,
                "created_at": tx.now,
                "updated_at": tx.now,
            }
        )
    for order, row, order_id in zip(batch, rows, _insert_orders(conn, rows), strict=True):
        order.order_id = row["id"] = order_id
    conn.execute(
        order_events.insert(),
        [
            {
                "order_id": order.order_id,
                "at": tx.now,
                "from_state": None,
                "to_state": OrderState.VALIDATED.value,
                "event": "submitted",
                "actor": order.pending.actor.label,
                "note": f"{order.pending.channel}; {order.decision.reason}",
            }
            for order in batch
        ],
    )
    shipping = []
    port_updates: list[dict[str, Any]] = []
    port_inserts: list[dict[str, Any]] = []
    mail = []
    for order in batch:
        item, fields = order.pending, order.pending.fields
        tx.audit(
            item.actor,
            "order.submitted",
            "order",
            order.order_id,
            metering_point_id=fields.mpid,
            action=fields.action.value,
            channel=item.channel,
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
                f"the read-back verified the port open; order {order.order_id} took over before "
                "the meter's first push",
                push_seen=False,
            )
        for other in order.open_orders:
            apply_event(
                tx, other, OrderEvent.SUPERSEDE, item.actor, note=f"superseded by {order.order_id}"
            )
            contact_mail(tx, other, "superseded", new_order_id=order.order_id)
        if fields.module in (ModuleOption.POST, ModuleOption.PICKUP):
            shipping.append(
                {
                    "order_id": order.order_id,
                    "method": fields.module.value,
                    "state": "requested",
                    "updated_at": tx.now,
                }
            )
            tx.audit(
                item.actor,
                "shipment.requested",
                "order",
                order.order_id,
                method=fields.module.value,
            )
        if not order.meter.han_capable:
            apply_event(
                tx,
                load_order(conn, order.order_id),
                OrderEvent.FIELD_WORK,
                "system",
                note="meter cannot run HAN; meter swap needed",
                failure_cause="meter_not_han_capable",
                next_attempt_at=None,
            )
        else:
            state = PortState.OPENING if fields.action is Action.OPEN else PortState.CLOSING
            values = {
                "point": fields.mpid,
                "new_state": state.value,
                "new_since": tx.now,
                "order_id": order.order_id,
            }
            (port_updates if fields.mpid in port_of else port_inserts).append(values)
        contact = people.get(order.contact_party) if order.contact_party is not None else None
        receipt_to = [contact] if contact is not None else []
        if contact is not None and order.holder_id not in (None, order.contact_party):
            receipt_to.append(people[order.holder_id])  # the holder hears of a proxy's order
        for person in receipt_to:
            mail.append(
                notify.outbox_row(
                    tx.now,
                    person.email,
                    "receipt",
                    person.lang,
                    order.order_id,
                    name=person.display_name,
                    mpid=fields.mpid,
                    order_id=order.order_id,
                    action=fields.action.value,
                    due=order.sla_due_at.astimezone(OSLO).strftime("%d.%m.%Y %H:%M"),
                )
            )
    if shipping:
        conn.execute(shipments.insert(), shipping)
    port_values = {
        "state": bindparam("new_state"),
        "since": bindparam("new_since"),
        "last_order_id": bindparam("order_id"),
        "push_seen": False,
    }
    if port_updates:
        conn.execute(
            update(port_states)
            .where(port_states.c.metering_point_id == bindparam("point"))
            .values(port_values),
            port_updates,
        )
    if port_inserts:
        conn.execute(
            port_states.insert().values(metering_point_id=bindparam("point"), **port_values),
            port_inserts,
        )
    if mail:
        conn.execute(outbox.insert(), mail)


def authorised_order(
    tx: Tx, actor: Actor, order_id: int, operation: Operation, action_name: str
) -> Row[Any]:
    order = tx.conn.execute(select(orders).where(orders.c.id == order_id)).first()
    mpid = order.metering_point_id if order is not None else "-"
    decision = authz.decide(tx.conn, actor, operation, mpid, tx.now.astimezone(OSLO).date())
    if order is None or not decision.allowed:
        # same answer whether the order exists or not: ids cannot be probed
        raise tx.refuse(actor, action_name, "order", order_id, decision.reason)
    since = authz.view_from(tx.conn, actor, mpid, tx.now.astimezone(OSLO).date())
    if since is not None and order.created_at < since:
        # an order from before the actor's contract period belongs to an earlier customer
        raise tx.refuse(actor, action_name, "order", order_id, "before_contract")
    return order


def get_order(engine: Engine, actor: Actor, order_id: int) -> Row[Any]:
    with transaction(engine) as tx:
        return authorised_order(tx, actor, order_id, Operation.VIEW, "order.view")


def cancel_order(engine: Engine, actor: Actor, order_id: int, now: datetime | None = None) -> None:
    with transaction(engine, now) as tx:
        order = authorised_order(tx, actor, order_id, Operation.ORDER, "order.cancel")
        if order.channel == "system" and not actor.is_staff:
            # the close after a customer change protects the old customer's data; the new
            # holder must not be able to withdraw it
            tx.record_refusal(actor, "order.cancel", "order", order_id, "system_order")
            raise Refused(
                "system_order",
                "Denne stengingen kommer etter et kundeskifte og kan ikke avbrytes av kunden",
                "This close follows a change of customer and cannot be cancelled by the customer",
            )
        if OrderEvent.CANCEL not in allowed_events(OrderState(order.state)):
            raise Conflict(
                "Bestillingen kan ikke avbrytes nå – kommandoen er allerede sendt",
                "The order can no longer be cancelled – the command has been sent",
            )
        by_staff = actor.is_staff
        apply_event(
            tx,
            order,
            OrderEvent.CANCEL,
            actor,
            note="cancelled by customer service" if by_staff else "cancelled by customer",
            next_attempt_at=None,
        )
        restore_port(tx, order)
        # the person who ordered (and the holder, for a proxy's order) hears of it, also when
        # someone else withdrew it
        contact_mail(
            tx,
            order,
            "cancelled",
            by_nb="kundeservice" if by_staff else actor.display_name,
            by_en="customer service" if by_staff else actor.display_name,
        )


def restore_port(tx: Tx, order: Row[Any]) -> None:
    """After a cancel or failure the port is where it was before the order."""
    before = PortState.CLOSED if order.action == Action.OPEN else PortState.OPEN
    if port_state(tx.conn, order.metering_point_id) in (PortState.OPENING, PortState.CLOSING):
        set_port_state(tx.conn, order.metering_point_id, before, tx.now, order.id)


OVERRIDES = {
    "retry": OrderEvent.OVERRIDE_RETRY,
    "complete": OrderEvent.OVERRIDE_COMPLETE,
    "fail": OrderEvent.OVERRIDE_FAIL,
}


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
    errors: dict[str, tuple[str, str]] = {}
    if kind not in OVERRIDES:
        errors["kind"] = ("Velg hva som skal gjøres", "Choose what to do")
    if len(reason) < 5:
        errors["reason"] = (
            "Skriv en begrunnelse (minst 5 tegn)",
            "Write a reason (at least 5 characters)",
        )
    if errors:
        raise InvalidInput(errors)
    with transaction(engine, now) as tx:
        order = authorised_order(tx, actor, order_id, Operation.OVERRIDE, "order.override")
        event = OVERRIDES[kind]
        if event not in allowed_events(OrderState(order.state)):
            raise Conflict(
                f"Bestillingen er i tilstand {order.state} og kan ikke overstyres slik",
                f"The order is in state {order.state} and cannot be overridden so",
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
                    "Måleren kan ikke bruke HAN. Bytt måleren før porten kan åpnes.",
                    "The meter cannot run HAN. Replace the meter before the port can be opened.",
                )
            fields = {"completed_at": tx.now, "next_attempt_at": None}
            target = PortState.OPEN if order.action == Action.OPEN else PortState.CLOSED
            set_port_state(tx.conn, order.metering_point_id, target, tx.now, order.id)
            # a manual completion was not read back from the meter: do not show it as verified
            tx.conn.execute(
                update(port_states)
                .where(port_states.c.metering_point_id == order.metering_point_id)
                .values(verified_at=None)
            )
        else:
            fields = {"next_attempt_at": None, "failure_cause": order.failure_cause or "override"}
        new = apply_event(tx, order, event, actor, note=reason, **fields)
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
    watch_until: datetime | None = None,
) -> None:
    """A verified order is done: COMPLETED, and the done notice says whether the meter's data
    has been seen yet (an open without a push is watched until `watch_until`)."""
    apply_event(
        tx, order, event, "system", note=note, completed_at=tx.now, next_attempt_at=watch_until
    )
    push_nb = push_en = ""
    if order.action == Action.OPEN:
        if push_seen:
            push_nb = " og sett at den sender data"
            push_en = " and seen it send data"
        else:
            push_nb = (
                ". Vi har ikke sett data fra måleren ennå; det kan ta litt tid. Får leseren "
                "din ingen data i løpet av en time, kontakt oss"
            )
            push_en = (
                ". We have not seen data from the meter yet; this can take a while. If your "
                "reader gets no data within an hour, contact us"
            )
    contact_mail(tx, order, "done", push_nb=push_nb, push_en=push_en)


def contact_mail(tx: Tx, order: Row[Any], template: str | None, **fields: Any) -> None:
    """Mail the person who ordered and, for an order placed by a proxy, the contract holder:
    the holder must hear that someone acted on their metering point."""
    if template is None:
        return
    recipients: list[tuple[str, str, str]] = []
    if order.contact_email:
        party = tx.conn.execute(
            select(parties.c.display_name).where(parties.c.email == order.contact_email)
        ).first()
        recipients.append((order.contact_email, order.lang, party.display_name if party else ""))
    if order.on_behalf_of is not None and order.channel != "system":
        holder = _contact(tx.conn, order.on_behalf_of)
        if holder.email != order.contact_email:
            recipients.append((holder.email, holder.lang, holder.display_name))
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
            due=order.sla_due_at.astimezone(OSLO).strftime("%d.%m.%Y"),
            **fields,
        )
