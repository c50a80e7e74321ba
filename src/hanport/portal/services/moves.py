"""Customer change (move-out / move-in) on a metering point.

On the effective date the old contract ends, the old customer's proxies end, the port is closed
by a system order if it was open or opening, the new contract starts, and both are notified.
The port is never carried over to the new customer: they must accept the terms themselves.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date, datetime

from sqlalchemy import Engine, func, select, update

from hanport.i18n import LANGS, N_
from hanport.portal.db.engine import begin_write
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
from hanport.portal.services import authz, notify
from hanport.portal.services.errors import Conflict, InvalidInput, Text, at_most
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.port import port_state
from hanport.portal.services.proxies import end_proxies, party_by_email, valid_email
from hanport.portal.services.tx import Tx, transaction, utcnow

__all__ = ["apply_due_changes", "register_customer_change"]


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
    pending = tx.conn.execute(
        select(customer_changes.c.id, customer_changes.c.effective_date).where(
            customer_changes.c.metering_point_id == mpid,
            customer_changes.c.handled_at.is_(None),
        )
    ).first()
    if pending is not None:
        raise Conflict(
            N_("A change of customer is already registered for {date} and not carried out yet"),
            code="move_already_registered",
            date=pending.effective_date,
        )
    latest = tx.conn.execute(
        select(customer_changes.c.effective_date)
        .where(customer_changes.c.metering_point_id == mpid)
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
    """Record a move (from Elhub or typed in by customer service).

    `new_lang` (nb | nn | en) is the language of a new customer not known before: of their party and
    so of every notice they get. A known party keeps the language they have chosen.
    """
    mpid, effective_date, email = _validated_change(mpid, effective, new_email, new_name, new_lang)
    with transaction(engine, now) as tx:
        if not actor.is_staff:
            raise tx.refuse(actor, "customer_change.register", "metering_point", mpid, "staff_only")
        # lock the point so two registrations cannot both pass the "nothing pending" check
        tx.conn.execute(
            select(metering_points.c.id).where(metering_points.c.id == mpid).with_for_update()
        ).first()
        _check_after_earlier_changes(tx, mpid, effective_date)
        old = authz.active_holder(tx.conn, mpid, effective_date)
        if old is None:
            raise Conflict(
                N_("The metering point has no customer on that date"),
                code="no_customer_on_date",
            )
        new_id = (
            party_by_email(tx.conn, email, new_name.strip(), new_lang, tx.now) if email else None
        )
        if new_id == old:
            raise InvalidInput({"new_email": N_("The new customer is the current one")})
        result = tx.conn.execute(
            customer_changes.insert().values(
                metering_point_id=mpid,
                old_party_id=old,
                new_party_id=new_id,
                effective_date=effective_date,
                registered_by=actor.label,
                registered_at=tx.now,
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
        return change_id


def apply_due_changes(engine: Engine, today: date) -> int:
    """Carry out customer changes whose effective date has come; returns how many were touched.

    Two steps, each safe to repeat: first contracts, proxies and notices (`handled_at`), then
    the closing order; `port_closed_at` is set only when the port is known closed, so a change
    stays on this list until its close has completed.
    """
    with engine.connect() as conn:
        due = conn.execute(
            select(customer_changes.c.id).where(
                customer_changes.c.port_closed_at.is_(None),
                customer_changes.c.effective_date <= today,
            )
        ).all()
    for (change_id,) in due:
        _apply_contract_change(engine, change_id)
        _close_port_after_change(engine, change_id)
    return len(due)


def _apply_contract_change(engine: Engine, change_id: int) -> None:
    with transaction(engine) as tx:
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
        if change.new_party_id is not None:
            # contracts never overlap (migration 0007): one already registered to begin later
            # (typed in ahead of time) ends the new one where it begins
            next_start = tx.conn.execute(
                select(func.min(contracts.c.valid_from)).where(
                    contracts.c.metering_point_id == mpid, contracts.c.valid_from > day
                )
            ).scalar_one_or_none()
            tx.conn.execute(
                contracts.insert().values(
                    party_id=change.new_party_id,
                    metering_point_id=mpid,
                    valid_from=day,
                    valid_to=next_start,
                )
            )
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
        )
        for party_id, template in (
            (change.old_party_id, "moved_out"),
            (change.new_party_id, "moved_in"),
        ):
            if party_id is None:
                continue
            party = tx.conn.execute(select(parties).where(parties.c.id == party_id)).one()
            notify.enqueue(
                tx.conn,
                tx.now,
                party.email,
                template,
                party.lang,
                name=party.display_name,
                mpid=mpid,
                date=day,
            )


def _close_port_after_change(engine: Engine, change_id: int) -> None:
    """Close the port for the new customer; `port_closed_at` only once it really is closed.

    A system close order is placed once. While it is in progress (retrying, or escalated to
    customer service when the meter does not answer) this waits; only a completed close, or a
    port already known closed, marks the change done. An order customer service failed by
    override stays with them: it is not placed again behind their back.
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
            submit_order(engine, SYSTEM, OrderRequest(mpid, "close"), Channel.SYSTEM)
        return
    with begin_write(engine) as conn:
        conn.execute(
            update(customer_changes)
            .where(customer_changes.c.id == change_id)
            .values(port_closed_at=utcnow())
        )
