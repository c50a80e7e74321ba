"""What a person may see, read in one go: the data behind the pages and the API's reads.

Each function authorises first (services.authz) and refuses, audited, what the person may not
see; customer service's case view is itself audited (personal data).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from hanport.portal.db.schema import orders, parties
from hanport.portal.domain.limits import SEARCH_MAX
from hanport.portal.domain.model import Actor, Channel, Decision, ModuleOption, Operation
from hanport.portal.domain.shipments import (
    DEMO_PICKUP_PLACES,
    PickupPlace,
    ShipmentState,
    delivery_of,
    han_connection,
    states_from,
)
from hanport.portal.domain.sla import OSLO, REGULATOR_WORKING_DAYS
from hanport.portal.services import authz, move_notices, queries
from hanport.portal.services.intake import OrderRequest, place_in, validated
from hanport.portal.services.lifecycle import (
    authorised_order,
    authorised_order_and,
    cancel_order,
    overrides_allowed,
)
from hanport.portal.services.notify import connection_help_text
from hanport.portal.services.terms import (
    TermsVersion,
    accepted_terms,
    changes_since,
    current_terms,
    get_terms,
    list_terms,
)
from hanport.portal.services.tx import Tx, transaction, utcnow

__all__ = [
    "OrderView",
    "case_view",
    "order_page",
    "order_view",
    "point_access",
    "point_view",
    "queue_page",
    "search_points",
    "sla_report",
    "terms_now",
    "terms_version",
    "terms_versions",
    "viewable_points",
]


def viewable_points(engine: Engine, actor: Actor) -> list[dict[str, Any]]:
    """Every metering point the person may see, with how (holder, proxy-view, proxy-act) and
    the order in progress, if they may see it."""
    today = utcnow().astimezone(OSLO).date()
    found = []
    with engine.connect() as conn:
        for mpid, how, _ in authz.viewable_points(conn, actor, today):
            summary = queries.point_summary(conn, mpid)
            if summary is not None:
                summary["how"] = how
                summary["active_order"] = queries.active_order(
                    conn, mpid, since=authz.view_from(conn, actor, mpid, today)
                )
                found.append(summary)
    return found


def _viewed_point(
    tx: Tx,
    actor: Actor,
    mpid: str,
    channel: str | None = None,
    decision: Decision | None = None,
) -> dict[str, Any]:
    """The point's summary, or Refused (audited) when the person may not see it; `decision`:
    the view decision when the caller has it already."""
    if decision is None:
        today = tx.now.astimezone(OSLO).date()
        decision = authz.decide(tx.conn, actor, Operation.VIEW, mpid, today)
    summary = queries.point_summary(tx.conn, mpid) if decision.allowed else None
    if summary is None:
        extra = {} if channel is None else {"channel": channel}
        raise tx.refuse(actor, "point.view", "metering_point", mpid, decision.reason, **extra)
    return summary


def point_access(engine: Engine, actor: Actor, mpid: str) -> tuple[dict[str, Any], str]:
    """The point as the API shows it, and the person's access: holder, proxy-view, proxy-act
    or staff (the same labels as the list)."""
    with transaction(engine) as tx:
        summary = _viewed_point(tx, actor, mpid, channel="api")
        if actor.is_staff:
            return summary, "staff"
        today = tx.now.astimezone(OSLO).date()
        access = next(
            (
                how
                for point, how, _ in authz.viewable_points(tx.conn, actor, today)
                if point == mpid
            ),
            authz.decide(tx.conn, actor, Operation.VIEW, mpid, today).reason,
        )
        return summary, access


_POINT_PAGE_OPERATIONS = (Operation.VIEW, Operation.ORDER, Operation.MANAGE_PROXIES)


def point_view(engine: Engine, actor: Actor, mpid: str, seen_terms: int | None) -> dict[str, Any]:
    """The point page's data; `seen_terms`: the terms version the person's form showed (else
    the one they last accepted), so the page can say what changed since."""
    with transaction(engine) as tx:
        today = tx.now.astimezone(OSLO).date()
        _, may, since = authz.holder_view(tx.conn, actor, _POINT_PAGE_OPERATIONS, mpid, today)
        summary = _viewed_point(tx, actor, mpid, decision=may[Operation.VIEW])
        may_order = may[Operation.ORDER].allowed
        may_manage = may[Operation.MANAGE_PROXIES].allowed
        terms = current_terms(tx.conn, tx.now)
        last_terms = seen_terms if seen_terms is not None else _last_accepted(tx, actor)
        return {
            "point": summary,
            # a meter with the HAN port built in needs no module, so the form offers none
            "han_connection": han_connection(summary["manufacturer"]).value,
            "connection_help": connection_help_text(summary["manufacturer"]),
            "orders": queries.orders_for_point(tx.conn, mpid, since=since),
            "active_order": queries.active_order(tx.conn, mpid, since=since),
            "may_order": may_order,
            "may_manage": may_manage,
            "proxies": queries.proxies_for_point(
                tx.conn, mpid, None if actor.is_staff else actor.party_id
            )
            if may_manage
            else [],
            "terms": terms,
            # what changed since the version this person last accepted (or just saw)
            "terms_changes": changes_since(tx.conn, last_terms, tx.now)
            if last_terms is not None and terms is not None and last_terms != terms.id
            else [],
            "today": today,
            # the move registered for the point (the customer's notice or the market's change)
            "move": move_notices.pending_change(tx.conn, mpid),
        }


def _last_accepted(tx: Tx, actor: Actor) -> int | None:
    if actor.party_id is None:
        return None
    found = tx.conn.execute(
        select(orders.c.terms_version_id)
        .where(orders.c.requested_by == actor.party_id, orders.c.terms_version_id.is_not(None))
        .order_by(orders.c.id.desc())
    ).scalar()
    return None if found is None else int(found)


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as the person may see it: customers without customer service's notes."""

    order: Row[Any]
    timeline: list[Any]
    shipment: Row[Any] | None = None  #: the HAN module's, if one was ordered with it


def order_view(engine: Engine, actor: Actor, order_id: int) -> OrderView:
    with transaction(engine) as tx:
        order = authorised_order(tx, actor, order_id, Operation.VIEW, "order.view")
        return OrderView(
            order,
            queries.timeline(tx.conn, order_id, staff=actor.is_staff),
            queries.shipment(tx.conn, order_id),
        )


def order_page(engine: Engine, actor: Actor, order_id: int) -> dict[str, Any]:
    """The order page's data: the order, its timeline, point, shipment and accepted terms."""
    with transaction(engine) as tx:
        order, may = authorised_order_and(
            tx, actor, order_id, Operation.VIEW, "order.view", (Operation.ORDER,)
        )
        return {
            "order": order,
            "timeline": queries.timeline(tx.conn, order_id, staff=actor.is_staff),
            "point": (point := queries.point_summary(tx.conn, order.metering_point_id)),
            "connection_help": connection_help_text(point["manufacturer"] if point else None),
            "shipment": (shipment := queries.shipment(tx.conn, order_id)),
            "delivery": delivery_of(shipment),
            "accepted_terms": accepted_terms(tx.conn, order_id),
            "may_order": may[Operation.ORDER].allowed,
        }


def case_view(engine: Engine, actor: Actor, order_id: int) -> dict[str, Any]:
    """Customer service's view of a case; NotFound for an unknown order. The view is audited."""
    authz.require_staff(actor)
    with transaction(engine) as tx:
        details = queries.case_details(tx.conn, order_id)
        details["accepted_terms"] = accepted_terms(tx.conn, order_id)
        details["overrides"] = overrides_allowed(details["order"].state)
        details["actor_names"] = _actor_names(
            tx.conn, [e.actor for e in details["timeline"]] + [a.actor for a in details["audit"]]
        )
        if (shipment := details["shipment"]) is not None:
            details["delivery"] = delivery_of(shipment)
            details["shipment_states"] = [
                s.value
                for s in states_from(ModuleOption(shipment.method), ShipmentState(shipment.state))
            ]
        tx.audit(actor, "case.viewed", "order", order_id)
        return details


def _actor_names(conn: Connection, actors: Sequence[str | None]) -> dict[str, str]:
    """The people behind audit and timeline actors ("party:7" → their name), for the case
    page to show names; other actors (the system, a provider) are shown as they are."""
    ids = {int(a.split(":", 1)[1]) for a in actors if a and re.fullmatch(r"party:\d+", a)}
    if not ids:
        return {}
    rows = conn.execute(select(parties.c.id, parties.c.display_name).where(parties.c.id.in_(ids)))
    return {f"party:{row.id}": row.display_name for row in rows}


def queue_page(engine: Engine, actor: Actor, page: int) -> queries.QueuePage:
    authz.require_staff(actor)
    with engine.connect() as conn:
        return queries.queue(conn, page)


def sla_report(engine: Engine, actor: Actor, now: datetime | None = None) -> queries.SlaReport:
    authz.require_staff(actor)
    with engine.connect() as conn:
        return queries.sla_report(conn, now or utcnow())


def search_points(engine: Engine, actor: Actor, text: str) -> list[Any]:
    """Metering points matching the text (at least two characters; at most 100 are read)."""
    authz.require_staff(actor)
    text = text.strip()[:SEARCH_MAX]
    if len(text) < 2:
        return []
    with engine.connect() as conn:
        return queries.search(conn, text)


def terms_versions(engine: Engine) -> list[TermsVersion]:
    with engine.connect() as conn:
        return list_terms(conn, utcnow())


def terms_version(engine: Engine, version_id: int) -> TermsVersion:
    with engine.connect() as conn:
        return get_terms(conn, version_id, utcnow())


def terms_now(engine: Engine) -> Row[Any] | None:
    """The terms in force now (None before the first is published)."""
    with engine.connect() as conn:
        return current_terms(conn, utcnow())


def place_and_view(
    engine: Engine,
    actor: Actor,
    req: OrderRequest,
    channel: Channel,
    places: Sequence[PickupPlace] = DEMO_PICKUP_PLACES,
    sla_working_days: int = REGULATOR_WORKING_DAYS,
) -> tuple[OrderView, bool]:
    """Place an order (or find the one its idempotency key placed) and answer with it, as a
    later GET would; True when it was placed now."""
    channel = Channel(channel)
    fields = validated(req, channel, places)
    with transaction(engine) as tx:
        placed = place_in(tx, actor, fields, channel, sla_working_days)
        if placed.repeated:
            # an earlier order: authorise its view as a later GET would
            order = authorised_order(tx, actor, placed.order_id, Operation.VIEW, "order.view")
        else:
            # placed now by someone allowed to order, so allowed to view, and inside their
            # contract period: read it back without deciding again
            order = tx.conn.execute(select(orders).where(orders.c.id == placed.order_id)).one()
        timeline = queries.timeline(tx.conn, placed.order_id, staff=actor.is_staff)
        shipment = queries.shipment(tx.conn, placed.order_id)
        return OrderView(order, timeline, shipment), not placed.repeated


def cancel_and_view(engine: Engine, actor: Actor, order_id: int) -> OrderView:
    """Cancel an order and answer with its state afterwards."""
    cancel_order(engine, actor, order_id)
    return order_view(engine, actor, order_id)
