"""Who may do what on a metering point: contract holder, proxy (by scope), customer service.

Every read or write of an object tied to a metering point goes through `decide`, so changing an
id in a URL reaches nothing the person is not entitled to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    func,
    or_,
    select,
)

from hanport.i18n import N_
from hanport.portal.db.schema import contracts, customer_changes, proxies
from hanport.portal.domain.model import Actor, Decision, Operation, ProxyScope
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.errors import Refused

__all__ = [
    "active_holder",
    "decide",
    "decide_each",
    "holder_and_decision",
    "holder_and_decisions",
    "holder_view",
    "holds_contract",
    "require_staff",
    "view_from",
    "view_from_holder",
    "viewable_points",
]

_HOLDER_MAY = {Operation.VIEW, Operation.ORDER, Operation.MANAGE_PROXIES}
_STAFF_MAY = {Operation.VIEW, Operation.ORDER, Operation.MANAGE_PROXIES, Operation.OVERRIDE}


def require_staff(actor: Actor) -> None:
    """Customer service's pages and tools are theirs alone: Refused for anyone else."""
    if not actor.is_staff:
        raise Refused(
            "staff_only",
            N_("This page is for customer service only."),
            code="staff_only",
        )


def _contract_active(day: date | BindParameter[date]) -> ColumnElement[bool]:
    return and_(
        contracts.c.valid_from <= day,
        or_(contracts.c.valid_to.is_(None), contracts.c.valid_to > day),
    )


# The statements every request runs, built once with their parameters (`mpid`, `day`,
# `party_id`): building one costs more CPU than PostgreSQL spends answering it.
#: the point's contract holder on `day`
_HOLDER = select(contracts.c.party_id).where(
    contracts.c.metering_point_id == bindparam("mpid"), _contract_active(bindparam("day"))
)
#: the latest customer change that moved the contract's holder in on its first day
_MOVED_IN = (
    select(func.max(customer_changes.c.handled_at))
    .where(
        customer_changes.c.new_party_id == contracts.c.party_id,
        customer_changes.c.metering_point_id == contracts.c.metering_point_id,
        customer_changes.c.effective_date == contracts.c.valid_from,
    )
    .scalar_subquery()
)
#: the point's contract on `day`: holder, first day and move-in moment
_CONTRACT_TODAY = select(
    contracts.c.party_id, contracts.c.valid_from, _MOVED_IN.label("moved_in")
).where(contracts.c.metering_point_id == bindparam("mpid"), _contract_active(bindparam("day")))
#: the same, of one party
_CONTRACT_OF = _CONTRACT_TODAY.where(contracts.c.party_id == bindparam("party_id"))


def holds_contract(conn: Connection, party_id: int, mpid: str, day: date) -> bool:
    return active_holder(conn, mpid, day) == party_id


def active_holder(conn: Connection, mpid: str, day: date) -> int | None:
    """The contract holder of the point on `day`; contracts of a point never overlap
    (migration 0007), so there is at most one."""
    holder = conn.execute(_HOLDER, {"mpid": mpid, "day": day}).scalar()
    return None if holder is None else int(holder)


def decide(conn: Connection, actor: Actor, operation: Operation, mpid: str, day: date) -> Decision:
    """Allow or refuse `operation` on `mpid` for `actor`, with the reason (for the audit log)."""
    if actor.is_staff or operation is Operation.OVERRIDE or actor.party_id is None:
        return _decision(actor, operation, day, None, [])
    return decide_each(conn, actor, (operation,), mpid, day)[operation]


def holder_and_decision(
    conn: Connection, actor: Actor, operation: Operation, mpid: str, day: date
) -> tuple[int | None, Decision]:
    """The point's contract holder on `day` and `decide`'s answer, the holder read once (an
    order needs both)."""
    holder, may = holder_and_decisions(conn, actor, (operation,), mpid, day)
    return holder, may[operation]


def holder_and_decisions(
    conn: Connection, actor: Actor, operations: Iterable[Operation], mpid: str, day: date
) -> tuple[int | None, dict[Operation, Decision]]:
    """The point's contract holder on `day` and `decide_each`'s answers, the holder read once."""
    holder = active_holder(conn, mpid, day)
    return holder, _decide_each(conn, actor, tuple(operations), mpid, day, holder)


def decide_each(
    conn: Connection, actor: Actor, operations: Iterable[Operation], mpid: str, day: date
) -> dict[Operation, Decision]:
    """`decide` for several operations on one point, reading the holder and proxies once (a
    page that shows what the person may do asks for three)."""
    operations = tuple(operations)
    if actor.is_staff or actor.party_id is None:
        return {op: _decision(actor, op, day, None, []) for op in operations}
    return _decide_each(conn, actor, operations, mpid, day, active_holder(conn, mpid, day))


def _decide_each(
    conn: Connection,
    actor: Actor,
    operations: tuple[Operation, ...],
    mpid: str,
    day: date,
    holder: int | None,
) -> dict[Operation, Decision]:
    if actor.is_staff or actor.party_id is None:
        return {op: _decision(actor, op, day, None, []) for op in operations}
    agent_proxies: list[Row[Any]] = []
    if actor.party_id != holder:
        agent_proxies = list(
            conn.execute(
                select(proxies)
                .where(proxies.c.agent_id == actor.party_id, proxies.c.metering_point_id == mpid)
                .order_by(proxies.c.id.desc())
            ).all()
        )
    return {op: _decision(actor, op, day, holder, agent_proxies) for op in operations}


def _decision(
    actor: Actor,
    operation: Operation,
    day: date,
    holder: int | None,
    proxies_newest_first: list[Row[Any]],
) -> Decision:
    if actor.is_staff:
        if operation in _STAFF_MAY:
            return Decision(True, "staff")
        return Decision(False, "not_allowed")
    if operation is Operation.OVERRIDE or actor.party_id is None:
        return Decision(False, "staff_only")
    if actor.party_id == holder:
        return Decision(operation in _HOLDER_MAY, "holder")
    reason = "not_holder"
    for proxy in proxies_newest_first:
        if proxy.revoked_at is not None:
            reason = "proxy_revoked"
        elif day > proxy.valid_to:
            reason = "proxy_expired"
        elif day < proxy.valid_from:
            reason = "proxy_not_yet_valid"
        elif proxy.principal_id != holder:
            # a proxy ends with the principal's contract
            reason = "proxy_contract_ended"
        elif operation is Operation.MANAGE_PROXIES:
            return Decision(False, "holder_only", proxy.id)
        elif operation is Operation.ORDER and proxy.scope != ProxyScope.ACT:
            return Decision(False, "proxy_view_only", proxy.id)
        else:
            return Decision(True, "proxy", proxy.id)
    return Decision(False, reason)


def viewable_points(conn: Connection, actor: Actor, day: date) -> list[tuple[str, str, int | None]]:
    """(metering point, how: holder|proxy-view|proxy-act, proxy id) the actor may see."""
    if actor.party_id is None:
        return []
    found: dict[str, tuple[str, str, int | None]] = {}
    for row in conn.execute(
        select(contracts.c.metering_point_id).where(
            contracts.c.party_id == actor.party_id, _contract_active(day)
        )
    ):
        found[row.metering_point_id] = (row.metering_point_id, "holder", None)
    for proxy in conn.execute(
        select(proxies).where(
            proxies.c.agent_id == actor.party_id,
            proxies.c.revoked_at.is_(None),
            proxies.c.valid_from <= day,
            proxies.c.valid_to >= day,
        )
    ):
        if proxy.metering_point_id in found:
            continue
        if holds_contract(conn, proxy.principal_id, proxy.metering_point_id, day):
            found[proxy.metering_point_id] = (
                proxy.metering_point_id,
                f"proxy-{proxy.scope}",
                proxy.id,
            )
    return sorted(found.values())


def view_from(conn: Connection, actor: Actor, mpid: str, day: date) -> datetime | None:
    """The moment from which `actor` may see orders and proxies of `mpid` (None: no limit).

    A holder sees their own contract period, a proxy the period of the principal's contract:
    after a move, the new customer must not read the old customer's orders, agents or notes.
    Call only after `decide` allowed the actor to view the point.
    """
    if actor.is_staff:
        return None
    contract = _contract_today(conn, mpid, day)
    if contract is not None and contract.party_id == actor.party_id:
        return _seen_from(contract)
    holder = None if contract is None else int(contract.party_id)
    return view_from_holder(conn, actor, mpid, day, holder)


def holder_view(
    conn: Connection, actor: Actor, operations: Iterable[Operation], mpid: str, day: date
) -> tuple[int | None, dict[Operation, Decision], datetime | None]:
    """`holder_and_decisions` and `view_from_holder` together: the holder is read with their
    contract's start and move-in moment, so a holder's own page needs no further statement.
    The moment (see `view_from`) means something only where the view was allowed."""
    contract = _contract_today(conn, mpid, day)
    holder = None if contract is None else int(contract.party_id)
    may = _decide_each(conn, actor, tuple(operations), mpid, day, holder)
    if actor.is_staff:
        return holder, may, None
    if contract is not None and holder == actor.party_id:
        return holder, may, _seen_from(contract)
    return holder, may, view_from_holder(conn, actor, mpid, day, holder)


def view_from_holder(
    conn: Connection, actor: Actor, mpid: str, day: date, holder_today: int | None
) -> datetime | None:
    """`view_from`, the point's contract holder on `day` already read (holder_and_decisions)."""
    if actor.is_staff:
        return None
    holder = actor.party_id
    if actor.party_id is not None and actor.party_id != holder_today:
        holder = None
        for proxy in conn.execute(
            select(proxies.c.principal_id)
            .where(
                proxies.c.agent_id == actor.party_id,
                proxies.c.metering_point_id == mpid,
                proxies.c.revoked_at.is_(None),
                proxies.c.valid_from <= day,
                proxies.c.valid_to >= day,
            )
            .order_by(proxies.c.id.desc())
        ):
            if holds_contract(conn, proxy.principal_id, mpid, day):
                holder = proxy.principal_id
                break
    if holder is None:
        return datetime.max.replace(tzinfo=OSLO)  # nothing to see
    return _seen_from(_contract_today(conn, mpid, day, holder))


def _contract_today(conn: Connection, mpid: str, day: date, party_id: int | None = None) -> Any:
    """The point's contract on `day` (of `party_id`, when given): holder, first day and the
    latest customer change that moved the holder in on that day (None: none), in one
    statement."""
    if party_id is None:
        return conn.execute(_CONTRACT_TODAY, {"mpid": mpid, "day": day}).first()
    return conn.execute(_CONTRACT_OF, {"mpid": mpid, "day": day, "party_id": party_id}).first()


def _seen_from(contract: Any) -> datetime:
    """The start of a holder's view: their contract's first day from midnight in Norway; when
    a customer change carried out later that day (or registered afterwards) moved them in, the
    old customer's orders up to that moment are still theirs."""
    if contract is None:
        return datetime.max.replace(tzinfo=OSLO)  # nothing to see
    begins = datetime.combine(contract.valid_from, time.min, tzinfo=OSLO)
    return begins if contract.moved_in is None else max(begins, contract.moved_in)
