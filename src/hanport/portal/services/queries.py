"""Read models for the pages and the API. Callers authorise first (services.authz)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, case, func, or_, select
from sqlalchemy import bindparam as param

from hanport.i18n import N_
from hanport.portal.db.schema import (
    audit_events,
    contracts,
    headend_commands,
    metering_points,
    meters,
    order_events,
    orders,
    outbox,
    parties,
    port_states,
    proxies,
    shipments,
)
from hanport.portal.domain.order_states import ATTENTION_STATES, FINAL_STATES, OrderState
from hanport.portal.services.errors import NotFound

__all__ = ["QueuePage", "SlaReport", "point_summary", "queue", "search", "sla_report"]


# The reads every page or API call makes, built once with their parameters (`mpid`,
# `order_id`, `since`, `limit`): building a statement costs more CPU than running it.
_POINT_SUMMARY = (
    select(
        metering_points,
        meters.c.meter_id.label("meter_id"),
        meters.c.manufacturer,
        meters.c.model,
        meters.c.han_capable,
        port_states.c.state.label("port"),
        port_states.c.since.label("port_since"),
        port_states.c.verified_at,
        port_states.c.push_seen,
        port_states.c.last_order_id,
    )
    .join(meters, meters.c.metering_point_id == metering_points.c.id)
    .outerjoin(port_states, port_states.c.metering_point_id == metering_points.c.id)
    .where(metering_points.c.id == param("mpid"))
    .order_by(meters.c.installed_from.desc())
)
_POINT_ORDERS = select(orders).where(orders.c.metering_point_id == param("mpid"))
_ACTIVE = _POINT_ORDERS.where(orders.c.state.not_in([s.value for s in FINAL_STATES]))
_SINCE = orders.c.created_at >= param("since")
_NEWEST = orders.c.id.desc()
#: (without since, with since): the newest `limit` orders of a point; its newest open one
_ORDERS_FOR_POINT = tuple(
    query.order_by(_NEWEST).limit(param("limit"))
    for query in (_POINT_ORDERS, _POINT_ORDERS.where(_SINCE))
)
_ACTIVE_ORDER = tuple(query.order_by(_NEWEST) for query in (_ACTIVE, _ACTIVE.where(_SINCE)))
_TIMELINE = (
    select(order_events)
    .where(order_events.c.order_id == param("order_id"))
    .order_by(order_events.c.id)
)
_SHIPMENT = select(shipments).where(shipments.c.order_id == param("order_id"))


def point_summary(conn: Connection, mpid: str) -> dict[str, Any] | None:
    row = conn.execute(_POINT_SUMMARY, {"mpid": mpid}).first()
    if row is None:
        return None
    summary = dict(row._mapping)
    summary["port"] = summary["port"] or "closed"
    return summary


def orders_for_point(
    conn: Connection, mpid: str, limit: int = 20, since: datetime | None = None
) -> list[Any]:
    """The point's orders, newest first; `since` (authz.view_from) hides an earlier customer's."""
    params: dict[str, Any] = {"mpid": mpid, "limit": limit}
    if since is None:
        return list(conn.execute(_ORDERS_FOR_POINT[0], params).all())
    return list(conn.execute(_ORDERS_FOR_POINT[1], {**params, "since": since}).all())


def active_order(conn: Connection, mpid: str, since: datetime | None = None) -> Any:
    if since is None:
        return conn.execute(_ACTIVE_ORDER[0], {"mpid": mpid}).first()
    return conn.execute(_ACTIVE_ORDER[1], {"mpid": mpid, "since": since}).first()


_STAFF_NOTES = {"override_retry", "override_complete", "override_fail"}


def timeline(conn: Connection, order_id: int, *, staff: bool = True) -> list[Any]:
    """The order's events; for customers without customer service's override reasons, which
    are written for colleagues and may name other people."""
    found: list[Any] = []
    for row in conn.execute(_TIMELINE, {"order_id": order_id}):
        hidden = not staff and row.event in _STAFF_NOTES
        found.append(SimpleNamespace(**{**row._mapping, "note": ""}) if hidden else row)
    return found


def shipment(conn: Connection, order_id: int) -> Any:
    return conn.execute(_SHIPMENT, {"order_id": order_id}).first()


def case_details(conn: Connection, order_id: int) -> dict[str, Any]:
    order = conn.execute(select(orders).where(orders.c.id == order_id)).first()
    if order is None:
        raise NotFound(N_("Order not found"))
    return {
        "order": order,
        "timeline": timeline(conn, order_id),
        "commands": conn.execute(
            select(headend_commands)
            .where(headend_commands.c.order_id == order_id)
            .order_by(headend_commands.c.id)
        ).all(),
        "mails": conn.execute(
            select(outbox).where(outbox.c.order_id == order_id).order_by(outbox.c.id)
        ).all(),
        "shipment": conn.execute(select(shipments).where(shipments.c.order_id == order_id)).first(),
        "point": point_summary(conn, order.metering_point_id),
        "requester": conn.execute(select(parties).where(parties.c.id == order.requested_by)).first()
        if order.requested_by
        else None,
        "holders": conn.execute(
            select(
                parties.c.display_name,
                parties.c.email,
                contracts.c.valid_from,
                contracts.c.valid_to,
            )
            .join(contracts, contracts.c.party_id == parties.c.id)
            .where(contracts.c.metering_point_id == order.metering_point_id)
            .order_by(contracts.c.valid_from.desc())
        ).all(),
        "proxies": proxies_for_point(conn, order.metering_point_id),
        "audit": conn.execute(
            select(audit_events)
            .where(
                or_(
                    (audit_events.c.object_type == "order")
                    & (audit_events.c.object_id == str(order_id)),
                    (audit_events.c.object_type == "metering_point")
                    & (audit_events.c.object_id == order.metering_point_id),
                )
            )
            .order_by(audit_events.c.seq)
        ).all(),
        "history": orders_for_point(conn, order.metering_point_id),
    }


def proxies_for_point(conn: Connection, mpid: str, principal_id: int | None = None) -> list[Any]:
    """The point's proxies; with `principal_id` only those that person gave (a new customer
    must not see the old customer's agents)."""
    agent = parties.alias("agent")
    query = (
        select(
            proxies,
            agent.c.display_name.label("agent_name"),
            agent.c.email.label("agent_email"),
        )
        .join(agent, agent.c.id == proxies.c.agent_id)
        .where(proxies.c.metering_point_id == mpid)
    )
    if principal_id is not None:
        query = query.where(proxies.c.principal_id == principal_id)
    return list(conn.execute(query.order_by(proxies.c.id.desc())).all())


QUEUE_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[Any]
    page: int  #: 1-based; a page past the end shows the last one
    pages: int  #: at least 1
    total: int  #: open orders in the whole queue


def queue(conn: Connection, page: int = 1, per_page: int = QUEUE_PAGE_SIZE) -> QueuePage:
    """Open orders, most urgent first: the ones needing a person (escalated, field work), then
    by SLA deadline. Sorted and paged in SQL, so no urgent case falls off a page."""
    open_orders = orders.c.state.not_in([s.value for s in FINAL_STATES])
    total = conn.execute(select(func.count()).select_from(orders).where(open_orders)).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    needs_person = case((orders.c.state.in_([s.value for s in ATTENTION_STATES]), 0), else_=1)
    rows = conn.execute(
        select(orders, parties.c.display_name.label("requester_name"))
        .outerjoin(parties, parties.c.id == orders.c.requested_by)
        .where(open_orders)
        .order_by(needs_person, orders.c.sla_due_at, orders.c.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return QueuePage(rows=list(rows), page=page, pages=pages, total=total)


def search(conn: Connection, text: str, limit: int = 50) -> list[Any]:
    """Metering points matching a name, e-mail, metering-point id or meter id."""
    needle = f"%{text.strip().lower()}%"
    holder = parties.alias("holder")
    return list(
        conn.execute(
            select(
                metering_points.c.id,
                metering_points.c.street,
                meters.c.meter_id,
                holder.c.display_name,
                holder.c.email,
                port_states.c.state.label("port"),
            )
            .join(meters, meters.c.metering_point_id == metering_points.c.id)
            .outerjoin(
                contracts,
                (contracts.c.metering_point_id == metering_points.c.id)
                & contracts.c.valid_to.is_(None),
            )
            .outerjoin(holder, holder.c.id == contracts.c.party_id)
            .outerjoin(port_states, port_states.c.metering_point_id == metering_points.c.id)
            .where(
                or_(
                    metering_points.c.id.like(needle),
                    meters.c.meter_id.like(needle),
                    func.lower(holder.c.display_name).like(needle),
                    func.lower(holder.c.email).like(needle),
                    func.lower(metering_points.c.street).like(needle),
                )
            )
            .order_by(metering_points.c.id)
            .limit(limit)
        ).all()
    )


@dataclass(frozen=True, slots=True)
class SlaReport:
    completed: int
    median_minutes: float | None
    p95_minutes: float | None
    within_sla_share: float | None  #: share completed before the three-working-day deadline
    open_orders: int
    breaching_soon: int  #: open orders due within a day
    breached_open: int  #: open orders already past their deadline
    failure_causes: list[tuple[str, int]]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * (len(ordered) - 1))))
    return ordered[index]


def sla_report(conn: Connection, now: datetime, since: datetime | None = None) -> SlaReport:
    since = since or now - timedelta(days=90)
    done = conn.execute(
        select(orders.c.created_at, orders.c.completed_at, orders.c.sla_due_at).where(
            orders.c.action == "open",
            orders.c.state == OrderState.COMPLETED.value,
            orders.c.created_at >= since,
        )
    ).all()
    minutes = [(r.completed_at - r.created_at).total_seconds() / 60 for r in done]
    within = sum(1 for r in done if r.completed_at <= r.sla_due_at)
    open_rows = conn.execute(
        select(orders.c.sla_due_at).where(orders.c.state.not_in([s.value for s in FINAL_STATES]))
    ).all()
    causes = Counter(
        r.failure_cause
        for r in conn.execute(
            select(orders.c.failure_cause).where(
                orders.c.failure_cause.is_not(None), orders.c.created_at >= since
            )
        )
    )
    return SlaReport(
        completed=len(done),
        median_minutes=statistics.median(minutes) if minutes else None,
        p95_minutes=_percentile(minutes, 0.95) if minutes else None,
        within_sla_share=within / len(done) if done else None,
        open_orders=len(open_rows),
        breaching_soon=sum(1 for r in open_rows if now <= r.sla_due_at <= now + timedelta(days=1)),
        breached_open=sum(1 for r in open_rows if r.sla_due_at < now),
        failure_causes=causes.most_common(),
    )
