"""Customer service acting for a customer: an explicit step with a reason, held in the staff
member's session, audited and told to the customer by mail.

Without the step, staff do not act on a customer's pages; while acting, every audit entry names
the customer and the reason (services/tx.py), and the pages show a banner with a stop button.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import orders, parties, proxies, sessions
from hanport.portal.domain.model import Actor
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import notify
from hanport.portal.services.authz import active_holder, require_staff
from hanport.portal.services.errors import InvalidInput, Refused, Text, at_most
from hanport.portal.services.tx import transaction, utcnow

__all__ = [
    "ACTING_REASON_MAX",
    "POA_REF_MAX",
    "require_acting_for",
    "start_acting",
    "stop_acting",
    "tell_acting_stopped",
]

ACTING_REASON_MAX = 200  #: sessions.acting_reason
POA_REF_MAX = 100  #: sessions.acting_poa_ref


def _not_acting() -> Refused:
    return Refused(
        "not_acting_for_customer",
        N_(
            "Customer service acts on a customer's pages only through the step "
            '"Act for the customer", with a reason.'
        ),
        code="act_for_customer_first",
    )


def start_acting(
    engine: Engine,
    actor: Actor,
    token_hash: str,
    *,
    mpid: str,
    reason: str,
    poa_ref: str = "",
    now: datetime | None = None,
) -> int:
    """The staff member's session acts for the contract holder of `mpid`; returns the
    customer's party id. The reason is required; the power-of-attorney reference is needed
    only to give a proxy on the customer's behalf."""
    require_staff(actor)
    mpid, reason, poa_ref = mpid.strip(), reason.strip(), poa_ref.strip()
    errors: dict[str, Text | str] = {}
    if len(reason) < 5:
        errors["reason"] = N_("Write a reason (at least 5 characters)")
    elif len(reason) > ACTING_REASON_MAX:
        errors["reason"] = at_most(ACTING_REASON_MAX)
    if len(poa_ref) > POA_REF_MAX:
        errors["poa_ref"] = at_most(POA_REF_MAX)
    with transaction(engine, now) as tx:
        holder = active_holder(tx.conn, mpid[:32], tx.now.astimezone(OSLO).date())
        if holder is None:
            errors["metering_point_id"] = N_("No customer holds this metering point today")
        if errors:
            raise InvalidInput(errors)
        assert holder is not None
        tx.conn.execute(
            update(sessions)
            .where(sessions.c.token_hash == token_hash, sessions.c.party_id == actor.party_id)
            .values(acting_for_party_id=holder, acting_reason=reason, acting_poa_ref=poa_ref)
        )
        tx.audit(
            actor,
            "acting.started",
            "party",
            holder,
            acting_for=f"party:{holder}",
            acting_reason=reason,
            poa_ref=poa_ref,
            metering_point=mpid,
        )
        notify.mail_party(
            tx.conn,
            tx.now,
            holder,
            "acting_started",
            staff=actor.display_name,
            mpid=mpid,
            why=reason,
        )
    return holder


def stop_acting(engine: Engine, actor: Actor, token_hash: str, now: datetime | None = None) -> None:
    """The session stops acting for the customer (ending the session ends it too)."""
    require_staff(actor)
    if actor.acting_for is None:
        return
    with transaction(engine, now) as tx:
        tx.conn.execute(
            update(sessions)
            .where(sessions.c.token_hash == token_hash)
            .values(acting_for_party_id=None, acting_reason=None, acting_poa_ref=None)
        )
        tx.audit(actor, "acting.stopped", "party", actor.acting_for.party_id)
        tell_acting_stopped(tx.conn, tx.now, actor.party_id, actor.acting_for.party_id)


def tell_acting_stopped(
    conn: Connection, now: datetime, staff_party_id: int | None, customer_party_id: int
) -> None:
    """The customer is told by mail that customer service no longer acts on their behalf
    (the stop button, or the staff member's session ended while acting)."""
    staff = conn.execute(
        select(parties.c.display_name).where(parties.c.id == staff_party_id)
    ).scalar()
    notify.mail_party(
        conn,
        now,
        customer_party_id,
        "acting_stopped",
        staff=staff or "",
    )


def require_acting_for(
    engine: Engine,
    actor: Actor,
    *,
    mpid: str | None = None,
    order_id: int | None = None,
    proxy_id: int | None = None,
    gives_proxy: bool = False,
) -> None:
    """A customer action on the customer's pages: customers pass (authz decides for them);
    staff only while acting for the point's contract holder, and with a power-of-attorney
    reference to give a proxy."""
    if not actor.is_staff or actor.party_id is None:
        return
    acting = actor.acting_for
    if acting is None:
        _audit_refusal(engine, actor, mpid or order_id or proxy_id, "not_acting")
        raise _not_acting()
    if gives_proxy and not acting.poa_ref:
        _audit_refusal(engine, actor, mpid, "no_poa_ref")
        raise Refused(
            "no_poa_ref",
            N_(
                "To give a proxy on the customer's behalf, start acting for the customer "
                "again with the power-of-attorney reference."
            ),
            code="poa_ref_required",
        )
    with engine.connect() as conn:
        if order_id is not None:
            mpid = conn.execute(
                select(orders.c.metering_point_id).where(orders.c.id == order_id)
            ).scalar()
        elif proxy_id is not None:
            mpid = conn.execute(
                select(proxies.c.metering_point_id).where(proxies.c.id == proxy_id)
            ).scalar()
        if mpid is None:
            return  # nothing there: the action's own check says "not found"
        holder = active_holder(conn, mpid, utcnow().astimezone(OSLO).date())
    if holder != acting.party_id:
        _audit_refusal(engine, actor, mpid, "acting_for_another_customer")
        raise _not_acting()


def _audit_refusal(engine: Engine, actor: Actor, target: object, reason: str) -> None:
    with transaction(engine) as tx:
        tx.audit(actor, "customer_action.refused", "metering_point", target, reason=reason)
