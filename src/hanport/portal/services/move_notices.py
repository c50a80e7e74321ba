"""The customer's notice "I am moving": give it, change its date, withdraw it, see it.

A notice is a change of customer (customer_changes) the customer announced: on its date the job
runner carries it out as any change (services.moves.apply_due_changes): contract end, the port
closed by a system order, proxies and pending access requests ended, everyone told. When the
market's event for the same move comes (first or later), it joins the same row, so nothing is
done twice; the date is the one given last (domain.moves). The holder, an act proxy or customer
service acting for the holder may give it (Operation.ORDER). Every step is audited; the
customer and every holder of their live powers of attorney are mailed in their language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, or_, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import (
    customer_changes,
    inserted_id,
    metering_points,
    parties,
    proxies,
)
from hanport.portal.domain.gsrn import InvalidMeteringPointId, validate_gsrn
from hanport.portal.domain.model import Actor, Operation
from hanport.portal.domain.moves import (
    MAX_NOTICE_DAYS,
    MoveDateRefused,
    MoveSources,
    Outcome,
    effective_date,
    may_still_change,
    move_out_date,
    outcome,
)
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import authz, notify
from hanport.portal.services.errors import Conflict, InvalidInput, Text, text
from hanport.portal.services.recipients import recipients_of
from hanport.portal.services.tx import Tx, transaction

__all__ = [
    "NOTICE_KEY_MAX",
    "MovePlan",
    "MoveStatus",
    "NoticeResult",
    "check_move_notice",
    "give_move_notice",
    "invite_new_holder",
    "invited_ahead",
    "live_change",
    "move_status",
    "pending_change",
    "sources_of",
    "tell_move",
    "withdraw_move_notice",
]

#: the longest idempotency key of a notice (the column's width)
NOTICE_KEY_MAX = 128

#: a change still to be carried out by someone's word: from the market, or a notice not withdrawn
live_change: ColumnElement[bool] = or_(
    customer_changes.c.market_at.is_not(None),
    customer_changes.c.notice_withdrawn_at.is_(None),
)


def sources_of(change: Row[Any], **changed: Any) -> MoveSources:
    """What each side has said about `change`, with `changed` columns as they will be."""
    values = {**change._mapping, **changed}
    return MoveSources(
        market_date=values["market_date"],
        market_at=values["market_at"],
        notice_date=values["notice_date"],
        notice_at=values["notice_at"],
        notice_withdrawn=values["notice_withdrawn_at"] is not None,
    )


def pending_change(conn: Connection, mpid: str) -> Row[Any] | None:
    """The point's change of customer not carried out yet, if anyone's word still holds it."""
    return conn.execute(
        select(customer_changes)
        .where(
            customer_changes.c.metering_point_id == mpid,
            customer_changes.c.handled_at.is_(None),
            live_change,
        )
        .order_by(customer_changes.c.id.desc())
    ).first()


def tell_move(
    tx: Tx,
    mpid: str,
    holder_id: int,
    customer_template: str | None,
    agent_template: str | None,
    day: date | None,
) -> int:
    """Mail the customer and everyone holding a live power of attorney they gave for the
    point, each in their own language; returns how many agents were told."""
    agents = _live_agents(tx.conn, mpid, holder_id, tx.now.astimezone(OSLO).date())
    told = recipients_of(tx.conn, [holder_id, *(agent.id for agent in agents)])
    holder = told[holder_id]
    if customer_template is not None:
        notify.mail_to(tx.conn, tx.now, holder, customer_template, mpid=mpid, date=day)
    if agent_template is not None:
        for agent in agents:  # a provider holding the proxy: at its registered contact address
            notify.mail_to(
                tx.conn, tx.now, told[agent.id], agent_template,
                principal=holder.name, mpid=mpid, date=day,
            )  # fmt: skip
    return len(agents)


def invited_ahead(registered: datetime | None, first_day: date) -> bool:
    """Whether the market named the new customer before their contract's first day: then they
    were invited (`invite_new_holder`) when it did, not once the port is closed."""
    return registered is not None and registered < datetime.combine(first_day, time.min, OSLO)


def invite_new_holder(tx: Tx, party_id: int, mpid: str, day: date) -> None:
    """Invite the new customer the market has named, ahead of the move, to order the port from
    `day`, their contract's first day (again when that day moves). Their contract begins then,
    so no order of theirs is taken before it (authz), and on the day the port is first closed
    for the change of customer (intake refuses their order until that close is done)."""
    notify.mail_party(
        tx.conn,
        tx.now,
        party_id,
        "move_in_invite_from",
        mpid=mpid,
        date=day,
    )
    tx.audit(
        "system",
        "customer_change.invited",
        "metering_point",
        mpid,
        party_id=party_id,
        from_date=day.isoformat(),
    )


def _tell_new_holder(tx: Tx, change: Row[Any], day: date) -> None:
    """The move's date changed after the market named the new customer: tell them the new one."""
    if change.new_party_id is not None and invited_ahead(change.market_at, day):
        invite_new_holder(tx, int(change.new_party_id), change.metering_point_id, day)


def _live_agents(conn: Connection, mpid: str, holder_id: int, today: date) -> list[Any]:
    return list(
        conn.execute(
            select(parties.c.id, parties.c.display_name)
            .join(proxies, proxies.c.agent_id == parties.c.id)
            .where(
                proxies.c.principal_id == holder_id,
                proxies.c.metering_point_id == mpid,
                proxies.c.revoked_at.is_(None),
                proxies.c.valid_to >= today,
            )
            .order_by(proxies.c.id)
        ).all()
    )


# -- giving a notice ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MovePlan:
    """A notice as the confirmation step shows it, checked but not given yet."""

    metering_point_id: str
    street: str
    move_out_date: date
    holder_name: str
    agents: list[str]  #: the names of those holding a live power of attorney: they are told
    current: date | None  #: the date of the change already registered, if any


@dataclass(frozen=True, slots=True)
class NoticeResult:
    """What giving (or withdrawing) a notice did: the change, the outcome and its date now."""

    change_id: int | None
    outcome: Outcome
    effective_date: date | None


@dataclass(frozen=True, slots=True)
class _Checked:
    mpid: str
    day: date
    holder: int
    pending: Row[Any] | None


def _valid_mpid(mpid: str) -> str:
    try:
        return validate_gsrn(mpid)
    except InvalidMeteringPointId as exc:
        raise InvalidInput({"metering_point_id": Text(exc.message, exc.params)}) from None


def _valid_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if len(key) > NOTICE_KEY_MAX or not all("!" <= c <= "~" for c in key):
        raise InvalidInput(
            {
                "idempotency_key": text(
                    N_("The idempotency key must be 1 to {limit} visible ASCII characters"),
                    limit=NOTICE_KEY_MAX,
                )
            }
        )
    return key


def _lock_point(tx: Tx, mpid: str) -> None:
    """Hold the point until commit: a notice and the market's event are decided in turn."""
    tx.conn.execute(
        select(metering_points.c.id).where(metering_points.c.id == mpid).with_for_update()
    ).first()


def _authorised_holder(tx: Tx, actor: Actor, mpid: str, action: str) -> int:
    """The contract holder today, if the actor may act for them (audited refusal otherwise)."""
    today = tx.now.astimezone(OSLO).date()
    holder, decision = authz.holder_and_decision(tx.conn, actor, Operation.ORDER, mpid, today)
    if not decision.allowed or holder is None:
        reason = decision.reason if not decision.allowed else "no_holder"
        raise tx.refuse(actor, action, "metering_point", mpid, reason)
    return holder


def _under_way(day: date) -> Conflict:
    return Conflict(
        N_(
            "The move on {date} is being carried out and can no longer be changed. "
            "Contact customer service if it is wrong."
        ),
        code="move_under_way",
        date=day,
    )


def _checked(tx: Tx, actor: Actor, mpid: str, move_out: str) -> _Checked:
    """The notice's date and holder, authorised (audited refusal) and checked; raises a
    PortalError that says what is wrong."""
    today = tx.now.astimezone(OSLO).date()
    try:
        day = move_out_date(move_out, today)
    except MoveDateRefused as refused:
        raise InvalidInput({"move_out_date": Text(refused.message, refused.params)}) from None
    _lock_point(tx, mpid)
    holder = _authorised_holder(tx, actor, mpid, "move_notice.give")
    if authz.active_holder(tx.conn, mpid, day) != holder:
        # the contract ends before that date (a change already registered to come first)
        raise Conflict(
            N_("The contract on the metering point ends before {date}"),
            code="move_after_contract",
            date=day,
        )
    return _Checked(mpid, day, holder, pending_change(tx.conn, mpid))


def _still_open(tx: Tx, pending: Row[Any] | None) -> None:
    """Refuse to move a change whose day has come (at its start the port closes)."""
    today = tx.now.astimezone(OSLO).date()
    if pending is not None and not may_still_change(pending.effective_date, today):
        raise _under_way(pending.effective_date)


def check_move_notice(
    engine: Any, actor: Actor, mpid: str, move_out: str, now: datetime | None = None
) -> MovePlan:
    """What giving the notice would do, for the confirmation step; nothing is stored."""
    mpid = _valid_mpid(mpid)
    with transaction(engine, now) as tx:
        checked = _checked(tx, actor, mpid, move_out)
        if checked.pending is None or checked.pending.effective_date != checked.day:
            _still_open(tx, checked.pending)
        holder = tx.conn.execute(
            select(parties.c.display_name).where(parties.c.id == checked.holder)
        ).scalar_one()
        street = tx.conn.execute(
            select(metering_points.c.street).where(metering_points.c.id == mpid)
        ).scalar_one()
        agents = _live_agents(tx.conn, mpid, checked.holder, tx.now.astimezone(OSLO).date())
        return MovePlan(
            mpid,
            street,
            checked.day,
            holder,
            [agent.display_name for agent in agents],
            None if checked.pending is None else checked.pending.effective_date,
        )


def give_move_notice(
    engine: Any,
    actor: Actor,
    mpid: str,
    move_out: str,
    *,
    idempotency_key: str | None = None,
    channel: str = "portal",
    now: datetime | None = None,
) -> NoticeResult:
    """Give (or change) the notice of moving out on `move_out`: the same form sent again (its
    key) or the same date again changes nothing; the market's change for the point, if it came
    first, is confirmed or adjusted to this date."""
    mpid, key = _valid_mpid(mpid), _valid_key(idempotency_key)
    with transaction(engine, now) as tx:
        checked = _checked(tx, actor, mpid, move_out)
        pending = checked.pending
        if pending is not None and key is not None and pending.notice_key == key:
            return NoticeResult(pending.id, Outcome.UNCHANGED, pending.effective_date)
        if pending is None:
            change_id, before, same_side = _insert_notice(tx, actor, checked, key), None, True
        else:
            before = pending.effective_date
            sources = sources_of(pending)
            # the customer's own date, if it is the one in force, is the same side speaking
            same_side = sources.notice_live and effective_date(sources) == sources.notice_date
            change_id = pending.id
        result = outcome(before, checked.day, same_side=same_side)
        if result is Outcome.UNCHANGED:
            # the same again (a resend, also on the day itself) is answered, not refused
            return NoticeResult(change_id, result, checked.day)
        if result is Outcome.ADJUSTED:
            _still_open(tx, pending)  # confirming the date in force is fine on the day too
        if pending is not None:
            _update_notice(tx, pending.id, checked.day, key)
        tx.audit(
            actor,
            "move_notice.changed" if result is Outcome.ADJUSTED else "move_notice.given",
            "metering_point",
            mpid,
            change_id=change_id,
            outcome=result.value,
            move_out_date=checked.day.isoformat(),
            previous_date=None if before is None else before.isoformat(),
            market_date=None
            if pending is None or pending.market_date is None
            else pending.market_date.isoformat(),
            channel=channel,
        )
        tell_move(tx, mpid, checked.holder, "move_notice", "move_notice_agent", checked.day)
        if pending is not None and result is Outcome.ADJUSTED:
            _tell_new_holder(tx, pending, checked.day)
        return NoticeResult(change_id, result, checked.day)


def _insert_notice(tx: Tx, actor: Actor, checked: _Checked, key: str | None) -> int:
    return inserted_id(
        tx.conn.execute(
            customer_changes.insert().values(
                metering_point_id=checked.mpid,
                old_party_id=checked.holder,
                new_party_id=None,
                effective_date=checked.day,
                registered_by=actor.label,
                registered_at=tx.now,
                notice_date=checked.day,
                notice_at=tx.now,
                notice_key=key,
            )
        )
    )


def _update_notice(tx: Tx, change_id: int, day: date, key: str | None) -> None:
    """The customer spoke last: their date is the change's date."""
    tx.conn.execute(
        update(customer_changes)
        .where(customer_changes.c.id == change_id)
        .values(
            notice_date=day,
            notice_at=tx.now,
            notice_key=key,
            notice_withdrawn_at=None,
            effective_date=day,
        )
    )


# -- withdrawing it -------------------------------------------------------------------------


def withdraw_move_notice(
    engine: Any, actor: Actor, mpid: str, now: datetime | None = None
) -> NoticeResult:
    """Withdraw the customer's notice before its date. A change the market registered stays
    (on the market's date); withdrawing again, or with no notice given, changes nothing."""
    mpid = _valid_mpid(mpid)
    with transaction(engine, now) as tx:
        _lock_point(tx, mpid)
        holder = _authorised_holder(tx, actor, mpid, "move_notice.withdraw")
        today = tx.now.astimezone(OSLO).date()
        pending = pending_change(tx.conn, mpid)
        if pending is None or not sources_of(pending).notice_live:
            day = None if pending is None else pending.effective_date
            return NoticeResult(None if pending is None else pending.id, Outcome.UNCHANGED, day)
        if not may_still_change(pending.effective_date, today):
            raise _under_way(pending.effective_date)
        after = effective_date(sources_of(pending, notice_withdrawn_at=tx.now))
        tx.conn.execute(
            update(customer_changes)
            .where(customer_changes.c.id == pending.id)
            .values(notice_withdrawn_at=tx.now, effective_date=after or pending.effective_date)
        )
        tx.audit(
            actor,
            "move_notice.withdrawn",
            "metering_point",
            mpid,
            change_id=pending.id,
            move_out_date=pending.notice_date.isoformat(),
            market_date=None if after is None else after.isoformat(),
            outcome="market_change_stays" if after is not None else "no_change_left",
        )
        if after is None:
            tell_move(tx, mpid, holder, "move_withdrawn", "move_withdrawn_agent", None)
        else:
            moved = after != pending.effective_date
            agent_mail = "move_notice_agent" if moved else None
            tell_move(tx, mpid, holder, "move_withdrawn_market", agent_mail, after)
            if moved:
                _tell_new_holder(tx, pending, after)
        return NoticeResult(pending.id, Outcome.WITHDRAWN, after)


# -- what the page shows --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MoveStatus:
    """The move page's data: the point, what may be done, and the move registered, if any."""

    metering_point_id: str
    street: str
    today: date
    last_day: date  #: the latest move-out date that can be given
    may_give: bool  #: the actor may give, change or withdraw the notice
    effective_date: date | None  #: the date the registered change is carried out
    notice_date: date | None  #: the customer's live notice
    market_date: date | None  #: the market's date, when the market has registered it
    may_change: bool  #: before the date: the notice can still be changed or withdrawn


def move_status(engine: Any, actor: Actor, mpid: str, now: datetime | None = None) -> MoveStatus:
    """The move as the person may see it (viewing the point is authorised and audited)."""
    with transaction(engine, now) as tx:
        today = tx.now.astimezone(OSLO).date()
        may = authz.decide_each(tx.conn, actor, (Operation.VIEW, Operation.ORDER), mpid, today)
        street = tx.conn.execute(
            select(metering_points.c.street).where(metering_points.c.id == mpid)
        ).scalar()
        if not may[Operation.VIEW].allowed or street is None:
            reason = may[Operation.VIEW].reason
            raise tx.refuse(actor, "point.view", "metering_point", mpid, reason)
        pending = pending_change(tx.conn, mpid)
        sources = MoveSources() if pending is None else sources_of(pending)
        return MoveStatus(
            metering_point_id=mpid,
            street=street,
            today=today,
            last_day=today + timedelta(days=MAX_NOTICE_DAYS),
            may_give=may[Operation.ORDER].allowed,
            effective_date=None if pending is None else pending.effective_date,
            notice_date=sources.notice_date if sources.notice_live else None,
            market_date=sources.market_date,
            may_change=pending is None or may_still_change(pending.effective_date, today),
        )
