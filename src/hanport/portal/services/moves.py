"""Customer change (move-out / move-in) on a metering point.

On the effective date the old contract ends, the old customer's proxies end, the port is closed
by a system order if it was open or opening, the new contract starts, and both are notified.
The port is never carried over to the new customer: they must accept the terms themselves.
They are invited by mail to order it when the market registers them ahead of the move, with the
date their contract begins (and the port becomes theirs to order); registered on or after that
day, once the port is known closed.

The market's event (this module) and the customer's own notice "I am moving"
(services.move_notices) for the same move are one change: whichever comes later joins the row
the first made, confirming or adjusting its date (domain.moves), so the port is closed once and
the contract ends once. Pending access requests to the old customer end with the contract.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Row, func, select, update

from hanport.i18n import LANGS, N_
from hanport.portal.db.schema import (
    contracts,
    customer_changes,
    inserted_id,
    metering_points,
    orders,
    parties,
)
from hanport.portal.domain.gsrn import InvalidMeteringPointId, validate_gsrn
from hanport.portal.domain.limits import EMAIL_MAX, NAME_MAX, too_long
from hanport.portal.domain.model import SYSTEM, Actor, Channel, PortState
from hanport.portal.domain.moves import effective_date as move_date
from hanport.portal.domain.moves import outcome
from hanport.portal.domain.sla import REGULATOR_WORKING_DAYS
from hanport.portal.services import access_requests, authz, notify
from hanport.portal.services.errors import Conflict, InvalidInput, Text, at_most
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.move_notices import (
    invite_new_holder,
    invited_ahead,
    live_change,
    pending_change,
    sources_of,
    tell_move,
)
from hanport.portal.services.port import port_state
from hanport.portal.services.proxies import end_proxies, party_by_email, valid_email
from hanport.portal.services.tx import Tx, transaction

__all__ = ["apply_due_changes", "pending_moves", "register_customer_change"]


def _validated_change(
    mpid: str, effective: str, new_email: str, new_name: str, new_lang: str
) -> tuple[str, date, str | None]:
    """The form's metering point, date and new customer's address, or every problem."""
    errors: dict[str, Text | str] = {}
    try:
        mpid = validate_gsrn(mpid)
    except InvalidMeteringPointId as exc:
        errors["metering_point_id"] = Text(exc.message, exc.params)
    try:
        effective_date = date.fromisoformat(effective.strip())
    except ValueError:
        errors["effective_date"] = N_("Give the date as YYYY-MM-DD")
    email = valid_email(new_email) if new_email.strip() else None
    if too_long(new_email, EMAIL_MAX):
        errors["new_email"] = at_most(EMAIL_MAX)
    elif new_email.strip() and email is None:
        errors["new_email"] = N_("Enter a valid e-mail address")
    if too_long(new_name, NAME_MAX):
        errors["new_name"] = at_most(NAME_MAX)
    elif email and not new_name.strip():
        errors["new_name"] = N_("Enter the new customer's name")
    if new_lang not in LANGS:
        errors["new_lang"] = N_(
            "Choose the new customer's language: Norwegian (bokmål or nynorsk) or English"
        )
    if errors:
        raise InvalidInput(errors)
    return mpid, effective_date, email


def _check_after_earlier_changes(tx: Tx, mpid: str, effective_date: date) -> None:
    """Refuse a change while another is pending, or dated before the latest one."""
    pending = pending_change(tx.conn, mpid)
    if pending is not None:
        raise Conflict(
            N_("A change of customer is already registered for {date} and not carried out yet"),
            code="move_already_registered",
            date=pending.effective_date,
        )
    latest = tx.conn.execute(
        select(customer_changes.c.effective_date)
        .where(customer_changes.c.metering_point_id == mpid, live_change)
        .order_by(customer_changes.c.effective_date.desc())
        .limit(1)
    ).first()
    if latest is not None and effective_date < latest.effective_date:
        # contracts after that change exist already; an earlier date would overlap them
        raise Conflict(
            N_("The date is before the previous change of customer on the metering point"),
            code="move_before_previous",
        )


def register_customer_change(
    engine: Engine,
    actor: Actor,
    mpid: str,
    *,
    effective: str,
    new_email: str = "",
    new_name: str = "",
    new_lang: str = "nb",
    now: datetime | None = None,
) -> int:
    """Record a move (from Elhub or typed in by customer service); returns the change's id.

    `new_lang` (nb | nn | en) is the language of a new customer not known before: of their party and
    so of every notice they get. A known party keeps the language they have chosen. A notice the
    customer gave for the point ("I am moving") is the same move: the market's event joins it,
    before its date (confirming or adjusting the date) or after it was carried out (naming the
    new customer), and the audit says which.
    """
    mpid, effective_date, email = _validated_change(mpid, effective, new_email, new_name, new_lang)
    with transaction(engine, now) as tx:
        if not actor.is_staff:
            raise tx.refuse(actor, "customer_change.register", "metering_point", mpid, "staff_only")
        # lock the point so two registrations cannot both pass the "nothing pending" check
        tx.conn.execute(
            select(metering_points.c.id).where(metering_points.c.id == mpid).with_for_update()
        ).first()
        market = _MarketEvent(actor, mpid, effective_date, email, new_name.strip(), new_lang)
        pending = pending_change(tx.conn, mpid)
        if pending is not None and pending.market_at is None:
            return _join_notice(tx, market, pending)
        carried = _carried_out_notice(tx, mpid)
        if pending is None and carried is not None:
            return _join_carried_out(tx, market, carried)
        _check_after_earlier_changes(tx, mpid, effective_date)
        old = authz.active_holder(tx.conn, mpid, effective_date)
        if old is None:
            raise _no_customer()
        new_id = market.new_party(tx, old)
        result = tx.conn.execute(
            customer_changes.insert().values(
                metering_point_id=mpid,
                old_party_id=old,
                new_party_id=new_id,
                effective_date=effective_date,
                registered_by=actor.label,
                registered_at=tx.now,
                market_date=effective_date,
                market_at=tx.now,
            )
        )
        change_id = inserted_id(result)
        tx.audit(
            actor,
            "customer_change.registered",
            "metering_point",
            mpid,
            change_id=change_id,
            old_party_id=old,
            new_party_id=new_id,
            effective_date=effective_date.isoformat(),
            new_lang=new_lang if email else None,
        )
        if new_id is not None and invited_ahead(tx.now, effective_date):
            invite_new_holder(tx, new_id, mpid, effective_date)
        return change_id


def _no_customer() -> Conflict:
    return Conflict(
        N_("The metering point has no customer on that date"),
        code="no_customer_on_date",
    )


class _MarketEvent:
    """The market's change of customer as registered: who registers it, the point, the date and
    the new customer (None: move-out only)."""

    def __init__(
        self, actor: Actor, mpid: str, day: date, email: str | None, name: str, lang: str
    ) -> None:
        self.actor, self.mpid, self.day = actor, mpid, day
        self.email, self.name, self.lang = email, name, lang

    def new_party(self, tx: Tx, old: int) -> int | None:
        """The new customer's party (made if not known); refused when it is the old one."""
        if not self.email:
            return None
        new_id = party_by_email(tx.conn, self.email, self.name, self.lang, tx.now)
        if new_id == old:
            raise InvalidInput({"new_email": N_("The new customer is the current one")})
        return new_id


def _join_notice(tx: Tx, market: _MarketEvent, notice: Row[Any]) -> int:
    """The market's event for a move the customer has announced and that is still to come: one
    change, on the market's date (it spoke last); the customer and their agents are told when
    the date moves."""
    old = int(notice.old_party_id)
    if authz.active_holder(tx.conn, market.mpid, market.day) != old:
        raise _no_customer()
    new_id = market.new_party(tx, old)
    after = move_date(sources_of(notice, market_date=market.day, market_at=tx.now))
    result = outcome(notice.effective_date, after, same_side=False)
    tx.conn.execute(
        update(customer_changes)
        .where(customer_changes.c.id == notice.id)
        .values(
            market_date=market.day,
            market_at=tx.now,
            new_party_id=new_id,
            effective_date=after,
        )
    )
    tx.audit(
        market.actor,
        "customer_change.reconciled",
        "metering_point",
        market.mpid,
        change_id=notice.id,
        outcome=result.value,
        source="market",
        notice_date=notice.notice_date.isoformat() if notice.notice_date else None,
        previous_date=notice.effective_date.isoformat(),
        effective_date=market.day.isoformat(),
        new_party_id=new_id,
        new_lang=market.lang if market.email else None,
    )
    if after != notice.effective_date:
        tell_move(tx, market.mpid, old, "move_market_date", "move_notice_agent", after)
    if new_id is not None and after is not None and invited_ahead(tx.now, after):
        invite_new_holder(tx, new_id, market.mpid, after)
    return int(notice.id)


def _carried_out_notice(tx: Tx, mpid: str) -> Row[Any] | None:
    """The point's latest change, if it was the customer's notice alone, carried out with no
    one after them: the market's event for that move may still come."""
    latest = tx.conn.execute(
        select(customer_changes)
        .where(customer_changes.c.metering_point_id == mpid, live_change)
        .order_by(customer_changes.c.effective_date.desc(), customer_changes.c.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.handled_at is None or latest.market_at is not None:
        return None
    return latest if latest.new_party_id is None else None


def _join_carried_out(tx: Tx, market: _MarketEvent, carried: Row[Any]) -> int:
    """The market's event after the customer's notice was carried out: the contract has ended
    and the port is closed already, so nothing of that is done again; the new customer (if the
    event names one) holds the point from the market's date, or from the day the old contract
    ended if the market's is earlier (contracts never overlap)."""
    day = max(market.day, carried.effective_date)
    if authz.active_holder(tx.conn, market.mpid, day) is not None:
        raise _no_customer()
    new_id = market.new_party(tx, int(carried.old_party_id))
    tx.conn.execute(
        update(customer_changes)
        .where(customer_changes.c.id == carried.id)
        .values(market_date=market.day, market_at=tx.now, new_party_id=new_id)
    )
    result = outcome(carried.effective_date, market.day, same_side=False)
    tx.audit(
        market.actor,
        "customer_change.reconciled",
        "metering_point",
        market.mpid,
        change_id=carried.id,
        outcome=result.value,
        source="market",
        carried_out=carried.effective_date.isoformat(),
        effective_date=market.day.isoformat(),
        new_party_id=new_id,
        new_from=day.isoformat() if new_id is not None else None,
    )
    if new_id is not None:
        _start_contract(tx, market.mpid, new_id, day)
        _welcome(tx, new_id, market.mpid, day)
        if invited_ahead(tx.now, day):
            invite_new_holder(tx, new_id, market.mpid, day)
        elif carried.port_closed_at is not None:
            _invite(tx, new_id, market.mpid)
    return int(carried.id)


def pending_moves(engine: Engine, actor: Actor, limit: int = 200) -> list[dict[str, Any]]:
    """Customer service's list: the moves registered and not carried out yet, soonest first,
    with who announced them (`source`: notice, market or market+notice) and the customers."""
    authz.require_staff(actor)
    old, new = parties.alias("old"), parties.alias("new")
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                customer_changes,
                old.c.display_name.label("old_name"),
                new.c.display_name.label("new_name"),
            )
            .join(old, old.c.id == customer_changes.c.old_party_id)
            .outerjoin(new, new.c.id == customer_changes.c.new_party_id)
            .where(customer_changes.c.handled_at.is_(None), live_change)
            .order_by(customer_changes.c.effective_date, customer_changes.c.id)
            .limit(limit)
        ).all()
    return [
        {
            "metering_point_id": row.metering_point_id,
            "effective_date": row.effective_date,
            "source": _source(row),
            "old_name": row.old_name,
            "new_name": row.new_name,
        }
        for row in rows
    ]


def apply_due_changes(
    engine: Engine,
    today: date,
    now: datetime | None = None,
    sla_working_days: int = REGULATOR_WORKING_DAYS,
) -> int:
    """Carry out customer changes whose effective date has come; returns how many were touched.

    Two steps, each safe to repeat: first contracts, proxies, access requests and notices
    (`handled_at`), then the closing order; `port_closed_at` is set only when the port is known
    closed, so a change stays on this list until its close has completed. A notice the customer
    withdrew (with no market event for it) is not carried out. `now` (the job runner's clock)
    stamps what is written; the close order is placed at once, due `sla_working_days` working
    days later.
    """
    with engine.connect() as conn:
        due = conn.execute(
            select(customer_changes.c.id).where(
                customer_changes.c.port_closed_at.is_(None),
                customer_changes.c.effective_date <= today,
                live_change,
            )
        ).all()
    for (change_id,) in due:
        _apply_contract_change(engine, change_id, now)
        _close_port_after_change(engine, change_id, now, sla_working_days)
    return len(due)


def _apply_contract_change(engine: Engine, change_id: int, now: datetime | None) -> None:
    with transaction(engine, now) as tx:
        change = tx.conn.execute(
            select(customer_changes).where(
                customer_changes.c.id == change_id, customer_changes.c.handled_at.is_(None)
            )
        ).first()
        if change is None:
            return
        mpid, day = change.metering_point_id, change.effective_date
        # every contract still running on the day ends, not only the one registered as old:
        # a metering point has exactly one holder at a time
        running = (
            contracts.c.metering_point_id == mpid,
            contracts.c.valid_from <= day,
            contracts.c.valid_to.is_(None) | (contracts.c.valid_to > day),
        )
        holders = {change.old_party_id} | {
            row.party_id for row in tx.conn.execute(select(contracts.c.party_id).where(*running))
        }
        tx.conn.execute(update(contracts).where(*running).values(valid_to=day))
        ended = sum(end_proxies(tx, party_id, mpid) for party_id in sorted(holders))
        requests_ended = access_requests.end_pending(tx, sorted(holders), mpid)
        if change.new_party_id is not None:
            _start_contract(tx, mpid, change.new_party_id, day)
        tx.conn.execute(
            update(customer_changes)
            .where(customer_changes.c.id == change_id)
            .values(handled_at=tx.now)
        )
        tx.audit(
            "system",
            "customer_change.applied",
            "metering_point",
            mpid,
            change_id=change_id,
            proxies_ended=ended,
            access_requests_ended=requests_ended,
            source=_source(change),
        )
        notify.mail_party(
            tx.conn,
            tx.now,
            change.old_party_id,
            "moved_out",
            mpid=mpid,
            date=day,
        )
        if change.new_party_id is not None:
            _welcome(tx, change.new_party_id, mpid, day)


def _source(change: Row[Any]) -> str:
    """Who announced the change: the market, the customer's notice, or both."""
    notice = change.notice_date is not None and change.notice_withdrawn_at is None
    if change.market_at is not None:
        return "market+notice" if notice else "market"
    return "notice"


def _start_contract(tx: Tx, mpid: str, party_id: int, day: date) -> None:
    """The new customer's contract from `day`. Contracts never overlap (migration 0007): one
    already registered to begin later (typed in ahead of time) ends it where it begins."""
    next_start = tx.conn.execute(
        select(func.min(contracts.c.valid_from)).where(
            contracts.c.metering_point_id == mpid, contracts.c.valid_from > day
        )
    ).scalar_one_or_none()
    tx.conn.execute(
        contracts.insert().values(
            party_id=party_id, metering_point_id=mpid, valid_from=day, valid_to=next_start
        )
    )


def _welcome(tx: Tx, party_id: int, mpid: str, day: date) -> None:
    notify.mail_party(
        tx.conn,
        tx.now,
        party_id,
        "moved_in",
        mpid=mpid,
        date=day,
    )


def _invite(tx: Tx, party_id: int, mpid: str) -> None:
    """The new customer is invited to order the port, now that it is closed for them: when the
    market named them on or after the move date (ahead of it they were invited then)."""
    notify.mail_party(
        tx.conn,
        tx.now,
        party_id,
        "move_in_invite",
        mpid=mpid,
    )
    tx.audit("system", "customer_change.invited", "metering_point", mpid, party_id=party_id)


def _close_port_after_change(
    engine: Engine, change_id: int, now: datetime | None, sla_working_days: int
) -> None:
    """Close the port for the new customer; `port_closed_at` only once it really is closed.

    A system close order is placed once. While it is in progress (retrying, or escalated to
    customer service when the meter does not answer) this waits; only a completed close, or a
    port already known closed, marks the change done, and then the new customer (if known) is
    invited to order the port. An order customer service failed by override stays with them:
    it is not placed again behind their back.
    """
    with engine.connect() as conn:
        change = conn.execute(
            select(customer_changes).where(customer_changes.c.id == change_id)
        ).one()
        if change.handled_at is None:
            return
        mpid = change.metering_point_id
        port = port_state(conn, mpid)
        close_order = conn.execute(
            select(orders.c.id, orders.c.state)
            .where(
                orders.c.metering_point_id == mpid,
                orders.c.channel == Channel.SYSTEM.value,
                orders.c.action == "close",
                orders.c.created_at >= change.handled_at,
            )
            .order_by(orders.c.id.desc())
            .limit(1)
        ).first()
    if port is not PortState.CLOSED:
        if close_order is not None:
            return  # placed already: wait for it to complete (or for customer service)
        # Conflict: a command is in flight for the point; try again on the next run
        with suppress(Conflict):
            close = OrderRequest(mpid, "close")
            submit_order(
                engine, SYSTEM, close, Channel.SYSTEM, now, sla_working_days=sla_working_days
            )
        return
    with transaction(engine, now) as tx:
        done = tx.conn.execute(
            update(customer_changes)
            .where(customer_changes.c.id == change_id, customer_changes.c.port_closed_at.is_(None))
            .values(port_closed_at=tx.now)
        ).rowcount
        if done != 1:
            return
        tx.audit(
            "system",
            "customer_change.port_closed",
            "metering_point",
            mpid,
            change_id=change_id,
            close_order_id=None if close_order is None else close_order.id,
        )
        if change.new_party_id is not None and not _invited_before(tx, change):
            _invite(tx, change.new_party_id, mpid)


def _invited_before(tx: Tx, change: Row[Any]) -> bool:
    """Whether the market named the new customer before their contract's first day, and so
    invited them then (services.move_notices.invite_new_holder)."""
    first_day = tx.conn.execute(
        select(func.max(contracts.c.valid_from)).where(
            contracts.c.party_id == change.new_party_id,
            contracts.c.metering_point_id == change.metering_point_id,
        )
    ).scalar_one_or_none()
    return first_day is not None and invited_ahead(change.market_at, first_day)
