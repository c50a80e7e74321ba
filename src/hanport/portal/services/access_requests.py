"""Access requests: a provider asks a customer for a power of attorney; the customer decides.

The provider (an API key of a provider's party) names the metering point and the customer by
e-mail, as proxy invitations do; the request is stored only when that customer holds the point
today, and any mismatch is the same "not found" (a provider learns nothing about who holds a
point). Approval creates the proxy (services.proxies' table and rules: one live proxy per
principal, agent and point), so revocation and contract end stop it as for any proxy. The
rules themselves live in domain.access_requests.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import (
    access_requests,
    inserted_id,
    metering_points,
    parties,
    providers,
    proxies,
)
from hanport.portal.domain.access_requests import (
    AccessEvent,
    AccessRequestRefused,
    AccessState,
    IllegalAccessTransition,
    RequestTerms,
    Scope,
    approved_terms,
    next_access_state,
    validate_request_terms,
)
from hanport.portal.domain.model import Actor
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import authz, notify
from hanport.portal.services.errors import Conflict, InvalidInput, NotFound, Refused, text
from hanport.portal.services.proxies import valid_email
from hanport.portal.services.tx import Tx, transaction

__all__ = [
    "DEFAULT_EXPIRE_AFTER",
    "answer_request",
    "create_request",
    "customer_pending_requests",
    "customer_request",
    "end_pending",
    "expire_due",
    "provider_requests",
    "withdraw_request",
]

DEFAULT_EXPIRE_AFTER = timedelta(days=14)


def _provider_of(tx: Tx, actor: Actor) -> Row[Any]:
    row = tx.conn.execute(select(providers).where(providers.c.party_id == actor.party_id)).first()
    if row is None:
        raise Refused("not_a_provider", code="not_a_provider")
    return row


def create_request(
    engine: Engine,
    actor: Actor,
    mpid: str,
    customer_email: str,
    scope: str,
    valid_from: date,
    valid_to: date,
    reason: str,
    now: datetime | None = None,
    expire_after: timedelta = DEFAULT_EXPIRE_AFTER,
) -> int:
    """The provider's request, stored PENDING and audited; its id. The customer's mail says
    when it expires unanswered (`expire_after`, the configuration's request_expire_days)."""
    with transaction(engine, now) as tx:
        provider = _provider_of(tx, actor)
        today = tx.now.astimezone(OSLO).date()
        try:
            terms, reason = validate_request_terms(scope, valid_from, valid_to, reason, today)
        except AccessRequestRefused as refused:
            raise InvalidInput({refused.code: text(refused.message, **refused.params)}) from None
        email = valid_email(customer_email)
        holder = authz.active_holder(tx.conn, mpid, today)
        customer = tx.conn.execute(
            select(parties.c.id).where(parties.c.email == (email or ""))
        ).scalar()
        if customer is None or holder != customer:
            raise tx.refuse(actor, "access_request.create", "metering_point", mpid, "no_match")
        request_id = inserted_id(
            tx.conn.execute(
                access_requests.insert().values(
                    provider_id=provider.id,
                    principal_id=holder,
                    metering_point_id=mpid,
                    scope=str(terms.scope),
                    valid_from=terms.valid_from,
                    valid_to=terms.valid_to,
                    reason=reason,
                    state=str(AccessState.PENDING),
                    created_at=tx.now,
                )
            )
        )
        tx.audit(
            actor,
            "access_request.created",
            "access_request",
            request_id,
            metering_point_id=mpid,
            scope=str(terms.scope),
            valid_to=terms.valid_to.isoformat(),
        )
        _ask_customer(tx, request_id, provider.name, expire_after)
    return request_id


def _ask_customer(tx: Tx, request_id: int, provider_name: str, expire_after: timedelta) -> None:
    """The holder is told by mail that a provider asks (the link goes to the requests page)."""
    request = _request(tx, request_id)
    notify.mail_party(
        tx.conn,
        tx.now,
        request.principal_id,
        "access_requested",
        provider=provider_name,
        scope=request.scope,
        mpid=request.metering_point_id,
        valid_from=request.valid_from,
        valid_to=request.valid_to,
        reason=request.reason,
        expires=(request.created_at + expire_after).astimezone(OSLO).date(),
    )


def _tell_provider(
    tx: Tx,
    request: Row[Any],
    template: str,
    scope: str | None = None,
    valid_to: date | None = None,
) -> None:
    """The provider's contact address is told the outcome (services.recipients: in bokmål and
    English, its readers' language is not known)."""
    party_id = tx.conn.execute(
        select(providers.c.party_id).where(providers.c.id == request.provider_id)
    ).scalar_one()
    notify.mail_party(
        tx.conn,
        tx.now,
        party_id,
        template,
        request_id=request.id,
        mpid=request.metering_point_id,
        scope=scope or "",
        valid_to=valid_to or "",
    )


def _tell_customer(tx: Tx, request: Row[Any], template: str, provider_name: str) -> None:
    """The customer asked is told the request is gone unanswered (withdrawn by the provider, or
    expired): nothing was granted and nothing is left to answer."""
    notify.mail_party(
        tx.conn,
        tx.now,
        request.principal_id,
        template,
        provider=provider_name,
        mpid=request.metering_point_id,
        scope=request.scope,
        asked=request.created_at.astimezone(OSLO).date(),
    )


def _provider_names(tx: Tx, provider_ids: set[int]) -> dict[int, str]:
    if not provider_ids:
        return {}
    rows = tx.conn.execute(
        select(providers.c.id, providers.c.name).where(providers.c.id.in_(provider_ids))
    ).all()
    return {row.id: row.name for row in rows}


def _move(tx: Tx, request: Row[Any], event: AccessEvent, **values: Any) -> AccessState:
    try:
        state = next_access_state(AccessState(request.state), event)
    except IllegalAccessTransition as illegal:
        raise Conflict(N_("The request has already been answered"), code=illegal.code) from None
    tx.conn.execute(
        update(access_requests)
        .where(access_requests.c.id == request.id, access_requests.c.state == request.state)
        .values(state=str(state), answered_at=tx.now, **values)
    )
    return state


def _request(tx: Tx, request_id: int) -> Row[Any]:
    row = tx.conn.execute(select(access_requests).where(access_requests.c.id == request_id)).first()
    if row is None:
        raise NotFound()
    return row


def answer_request(
    engine: Engine,
    customer: Actor,
    request_id: int,
    approve: bool,
    scope: Scope | None = None,
    valid_to: date | None = None,
    now: datetime | None = None,
) -> int | None:
    """The customer's answer to their own request; on approval the new proxy's id."""
    with transaction(engine, now) as tx:
        request = _request(tx, request_id)
        if request.principal_id != customer.party_id:
            raise NotFound()
        if not approve:
            _move(tx, request, AccessEvent.DECLINE)
            tx.audit(customer, "access_request.declined", "access_request", request_id)
            _tell_provider(tx, request, "access_declined")
            return None
        asked = RequestTerms(Scope(request.scope), request.valid_from, request.valid_to)
        try:
            granted = approved_terms(asked, scope, valid_to)
        except AccessRequestRefused as refused:
            raise InvalidInput({refused.code: text(refused.message, **refused.params)}) from None
        proxy_id = _grant(tx, customer, request, granted)
        _move(
            tx,
            request,
            AccessEvent.APPROVE,
            granted_scope=str(granted.scope),
            granted_to=granted.valid_to,
            proxy_id=proxy_id,
        )
        tx.audit(
            customer,
            "access_request.approved",
            "access_request",
            request_id,
            proxy_id=proxy_id,
            scope=str(granted.scope),
            valid_to=granted.valid_to.isoformat(),
        )
        _tell_provider(
            tx, request, "access_approved", scope=str(granted.scope), valid_to=granted.valid_to
        )
        return proxy_id


def _grant(tx: Tx, customer: Actor, request: Row[Any], granted: RequestTerms) -> int:
    """The proxy, replacing a live one of the same customer, provider and point."""
    agent_id = tx.conn.execute(
        select(providers.c.party_id).where(providers.c.id == request.provider_id)
    ).scalar_one()
    key = (request.principal_id, agent_id, request.metering_point_id)
    replaced = tx.conn.execute(
        update(proxies)
        .where(
            proxies.c.principal_id == key[0],
            proxies.c.agent_id == key[1],
            proxies.c.metering_point_id == key[2],
            proxies.c.revoked_at.is_(None),
        )
        .values(revoked_at=tx.now, revoked_by=customer.label, revoke_reason="replaced")
        .returning(proxies.c.id)
    ).all()
    for old in replaced:
        tx.audit(customer, "proxy.ended", "proxy", old.id, reason="replaced")
    proxy_id = inserted_id(
        tx.conn.execute(
            proxies.insert().values(
                principal_id=key[0],
                agent_id=key[1],
                metering_point_id=key[2],
                scope=str(granted.scope),
                valid_from=max(granted.valid_from, tx.now.astimezone(OSLO).date()),
                valid_to=granted.valid_to,
                created_at=tx.now,
            )
        )
    )
    tx.audit(
        customer,
        "proxy.created",
        "proxy",
        proxy_id,
        metering_point_id=key[2],
        agent_id=key[1],
        scope=str(granted.scope),
        valid_to=granted.valid_to.isoformat(),
        decision="access_request",
    )
    return proxy_id


def withdraw_request(
    engine: Engine, actor: Actor, request_id: int, now: datetime | None = None
) -> None:
    """The provider takes back its own pending request."""
    with transaction(engine, now) as tx:
        provider = _provider_of(tx, actor)
        request = _request(tx, request_id)
        if request.provider_id != provider.id:
            raise NotFound()
        _move(tx, request, AccessEvent.WITHDRAW)
        tx.audit(actor, "access_request.withdrawn", "access_request", request_id, told="customer")
        _tell_customer(tx, request, "access_withdrawn", provider.name)


def expire_due(
    engine: Engine, expire_after: timedelta = DEFAULT_EXPIRE_AFTER, now: datetime | None = None
) -> int:
    """Expire pending requests older than `expire_after` (the job runner calls this)."""
    with transaction(engine, now) as tx:
        due = tx.conn.execute(
            select(access_requests).where(
                access_requests.c.state == str(AccessState.PENDING),
                access_requests.c.created_at <= tx.now - expire_after,
            )
        ).all()
        names = _provider_names(tx, {request.provider_id for request in due})
        for request in due:
            _move(tx, request, AccessEvent.EXPIRE)
            tx.audit(
                "system",
                "access_request.expired",
                "access_request",
                request.id,
                told="customer+provider",
            )
            _tell_provider(tx, request, "access_expired")
            _tell_customer(tx, request, "access_expired_customer", names[request.provider_id])
    return len(due)


def end_pending(tx: Tx, principal_ids: list[int], mpid: str) -> int:
    """End the pending requests to these (former) holders of the point: the customer moved
    out, so nothing is left to answer (a change of customer calls this); the provider is told."""
    due = tx.conn.execute(
        select(access_requests).where(
            access_requests.c.state == str(AccessState.PENDING),
            access_requests.c.metering_point_id == mpid,
            access_requests.c.principal_id.in_(principal_ids),
        )
    ).all()
    for request in due:
        _move(tx, request, AccessEvent.END)
        tx.audit(
            "system",
            "access_request.ended",
            "access_request",
            request.id,
            metering_point_id=mpid,
            reason="moved_out",
        )
        _tell_provider(tx, request, "access_ended")
    return len(due)


def provider_requests(engine: Engine, actor: Actor) -> list[Row[Any]]:
    """The provider's own requests, newest first."""
    with transaction(engine) as tx:
        provider = _provider_of(tx, actor)
        return list(
            tx.conn.execute(
                select(access_requests)
                .where(access_requests.c.provider_id == provider.id)
                .order_by(access_requests.c.id.desc())
            ).all()
        )


def customer_pending_requests(engine: Engine, customer: Actor) -> list[Row[Any]]:
    """The pending requests to this customer, oldest first, with the provider's name and
    organisation number and the point's address (what the customer decides on)."""
    with transaction(engine) as tx:
        return list(
            tx.conn.execute(
                select(
                    access_requests,
                    providers.c.name.label("provider_name"),
                    providers.c.org_number,
                    metering_points.c.street,
                    metering_points.c.postcode,
                    metering_points.c.city,
                )
                .join(providers, providers.c.id == access_requests.c.provider_id)
                .join(metering_points, metering_points.c.id == access_requests.c.metering_point_id)
                .where(
                    access_requests.c.principal_id == customer.party_id,
                    access_requests.c.state == str(AccessState.PENDING),
                )
                .order_by(access_requests.c.id)
            ).all()
        )


def customer_request(engine: Engine, customer: Actor, request_id: int) -> Row[Any]:
    """One pending request to this customer (the decline confirmation shows it); any other
    request is "not found"."""
    for row in customer_pending_requests(engine, customer):
        if row.id == request_id:
            return row
    raise NotFound()
