"""Powers of attorney: scope view/act, mandatory expiry, revocable, end with the contract.

Invitations are rate-limited (every one mails a stranger): at most MAX_INVITES_PER_PRINCIPAL a
day given by one contract holder, and of those MAX_INVITES_PER_AGENT to one e-mail address. The
limits hold under concurrent requests on PostgreSQL too (an advisory lock per holder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row, func, select, update

from hanport.i18n import N_
from hanport.portal.db.schema import inserted_id, parties, proxies
from hanport.portal.domain.gsrn import InvalidMeteringPointId, validate_gsrn
from hanport.portal.domain.limits import EMAIL_MAX, NAME_MAX, too_long
from hanport.portal.domain.model import Actor, Operation, ProxyScope
from hanport.portal.domain.sla import OSLO
from hanport.portal.services import authz, notify
from hanport.portal.services.errors import InvalidInput, RateLimited, Text, at_most
from hanport.portal.services.recipients import recipients_of
from hanport.portal.services.tx import Tx, lock_keys, transaction

__all__ = [
    "MAX_PROXY_DAYS",
    "ProxyToRevoke",
    "end_proxies",
    "invite_proxy",
    "live_proxies",
    "proxy_to_revoke",
    "revoke_proxy",
    "valid_email",
]

MAX_PROXY_DAYS = 731  #: at most two years; expiry is mandatory
MAX_INVITES_PER_PRINCIPAL = 10  #: invitations one contract holder gives per INVITE_WINDOW
#: invitations one contract holder sends to one e-mail address per INVITE_WINDOW. Counted per
#: holder, not per address: a service provider is the agent of many customers on one address,
#: and one customer's invitations must not use up another's (nor tell them about it)
MAX_INVITES_PER_AGENT = 3
INVITE_WINDOW = timedelta(days=1)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def valid_email(text: str) -> str | None:
    text = text.strip().lower()
    return text if len(text) <= EMAIL_MAX and _EMAIL.match(text) else None


def party_by_email(conn: Connection, email: str, name: str, lang: str, now: datetime) -> int:
    row = conn.execute(select(parties.c.id).where(parties.c.email == email)).first()
    if row is not None:
        return int(row.id)
    result = conn.execute(
        parties.insert().values(
            kind="person",
            display_name=name or email,
            email=email,
            lang=lang,
            role="customer",
            created_at=now,
        )
    )
    return inserted_id(result)


@dataclass(frozen=True, slots=True)
class _Invitation:
    """A valid invitation form."""

    mpid: str
    email: str
    agent_name: str
    scope: str
    today: date
    until: date


def _validated_invitation(
    mpid: str, agent_email: str, agent_name: str, scope: str, valid_to: str, now: datetime | None
) -> _Invitation:
    errors: dict[str, Text | str] = {}
    try:
        mpid = validate_gsrn(mpid)
    except InvalidMeteringPointId as exc:
        errors["metering_point_id"] = Text(exc.message, exc.params)
    email = valid_email(agent_email)
    if too_long(agent_email, EMAIL_MAX):
        errors["agent_email"] = at_most(EMAIL_MAX)
    elif email is None:
        errors["agent_email"] = N_("Enter a valid e-mail address")
    if scope not in (ProxyScope.VIEW, ProxyScope.ACT):
        errors["scope"] = N_("Choose view or act")
    agent_name = agent_name.strip()
    if too_long(agent_name, NAME_MAX):
        errors["agent_name"] = at_most(NAME_MAX)
    elif not agent_name:
        errors["agent_name"] = N_("Enter the name of the person you give the power of attorney")
    today = (now or datetime.now(OSLO)).astimezone(OSLO).date()
    try:
        until = date.fromisoformat(valid_to.strip())
        if until <= today:
            errors["valid_to"] = N_("The end date must be after today")
        elif until > today + timedelta(days=MAX_PROXY_DAYS):
            errors["valid_to"] = N_("A power of attorney can last at most two years")
    except ValueError:
        errors["valid_to"] = N_("Give an end date (YYYY-MM-DD); a power of attorney must expire")
        until = today
    if errors or email is None:
        raise InvalidInput(errors)
    return _Invitation(mpid, email, agent_name, scope, today, until)


def invite_proxy(
    engine: Engine,
    actor: Actor,
    mpid: str,
    *,
    agent_email: str,
    agent_name: str,
    scope: str,
    valid_to: str,
    now: datetime | None = None,
) -> int:
    """The holder (or customer service) gives someone a power of attorney for the point."""
    wanted = _validated_invitation(mpid, agent_email, agent_name, scope, valid_to, now)
    mpid, today = wanted.mpid, wanted.today
    with transaction(engine, now) as tx:
        decision = authz.decide(tx.conn, actor, Operation.MANAGE_PROXIES, mpid, today)
        if not decision.allowed:
            raise tx.refuse(actor, "proxy.invite", "metering_point", mpid, decision.reason)
        principal = authz.active_holder(tx.conn, mpid, today)
        if principal is None:
            raise tx.refuse(actor, "proxy.invite", "metering_point", mpid, "no_holder")
        _check_invite_limits(tx, actor, mpid, principal, wanted.email)
        # a new agent's language is unknown: the principal's is the best guess (they share it
        # more often than not), and better than always bokmål
        principal_lang = tx.conn.execute(
            select(parties.c.lang).where(parties.c.id == principal)
        ).scalar_one()
        agent_id = party_by_email(tx.conn, wanted.email, wanted.agent_name, principal_lang, tx.now)
        if agent_id == principal:
            raise InvalidInput({"agent_email": N_("You cannot give yourself a power of attorney")})
        return _store_proxy(tx, actor, wanted, principal, agent_id, decision.reason)


def _store_proxy(
    tx: Tx, actor: Actor, wanted: _Invitation, principal: int, agent_id: int, decision: str
) -> int:
    """Replace the live proxy of the same principal, agent and point; store, audit, notify."""
    mpid, today, until, scope = wanted.mpid, wanted.today, wanted.until, wanted.scope
    # one live proxy per principal, agent and point: a new invitation replaces the old one,
    # so what is shown (scope, end date) is what is enforced, and revoking it really ends it
    replaced = tx.conn.execute(
        update(proxies)
        .where(
            proxies.c.principal_id == principal,
            proxies.c.agent_id == agent_id,
            proxies.c.metering_point_id == mpid,
            proxies.c.revoked_at.is_(None),
        )
        .values(revoked_at=tx.now, revoked_by=actor.label, revoke_reason="replaced")
        .returning(proxies.c.id)
    ).all()
    for old in replaced:
        tx.audit(actor, "proxy.ended", "proxy", old.id, reason="replaced", metering_point_id=mpid)
    result = tx.conn.execute(
        proxies.insert().values(
            principal_id=principal,
            agent_id=agent_id,
            metering_point_id=mpid,
            scope=scope,
            valid_from=today,
            valid_to=until,
            created_at=tx.now,
        )
    )
    proxy_id = inserted_id(result)
    tx.audit(
        actor,
        "proxy.created",
        "proxy",
        proxy_id,
        metering_point_id=mpid,
        principal_id=principal,
        agent_id=agent_id,
        scope=scope,
        valid_to=until.isoformat(),
        decision=decision,
    )
    told = recipients_of(tx.conn, (principal, agent_id))
    notify.mail_to(
        tx.conn,
        tx.now,
        told[agent_id],
        "proxy_invited",
        principal=told[principal].name,
        mpid=mpid,
        valid_to=until,
        scope=scope,
    )
    return proxy_id


def _check_invite_limits(tx: Tx, actor: Actor, mpid: str, principal: int, email: str) -> None:
    """Refuse (audited) an invitation beyond the daily limits; a replaced invitation counts."""
    lock_keys(tx.conn, [f"proxy-principal:{principal}"])
    since = tx.now - INVITE_WINDOW
    by_principal = tx.conn.execute(
        select(func.count())
        .select_from(proxies)
        .where(proxies.c.principal_id == principal, proxies.c.created_at > since)
    ).scalar_one()
    to_agent = tx.conn.execute(
        select(func.count())
        .select_from(proxies)
        .join(parties, parties.c.id == proxies.c.agent_id)
        .where(
            parties.c.email == email,
            proxies.c.principal_id == principal,
            proxies.c.created_at > since,
        )
    ).scalar_one()
    if by_principal < MAX_INVITES_PER_PRINCIPAL and to_agent < MAX_INVITES_PER_AGENT:
        return
    tx.record_refusal(
        actor,
        "proxy.invite",
        "metering_point",
        mpid,
        "rate_limited",
        principal_id=principal,
        agent_email=email,
        limit="principal" if by_principal >= MAX_INVITES_PER_PRINCIPAL else "agent",
    )
    if by_principal >= MAX_INVITES_PER_PRINCIPAL:
        raise RateLimited(
            N_(
                "You have given {limit} powers of attorney in the last 24 hours, which is the "
                "limit. Try again tomorrow, or call customer service."
            ),
            limit=MAX_INVITES_PER_PRINCIPAL,
        )
    raise RateLimited(
        N_(
            "You have invited this e-mail address {limit} times in the last 24 hours, which is "
            "the limit. Try again tomorrow, or call customer service."
        ),
        limit=MAX_INVITES_PER_AGENT,
    )


def _end(tx: Tx, proxy: Row[Any], by: str, reason: str) -> None:
    tx.conn.execute(
        update(proxies)
        .where(proxies.c.id == proxy.id)
        .values(revoked_at=tx.now, revoked_by=by, revoke_reason=reason)
    )
    tx.audit(
        by,
        "proxy.ended",
        "proxy",
        proxy.id,
        reason=reason,
        metering_point_id=proxy.metering_point_id,
    )
    notify.mail_party(
        tx.conn,
        tx.now,
        proxy.agent_id,
        "proxy_ended",
        mpid=proxy.metering_point_id,
        reason=reason,
    )


def _revocable(tx: Tx, actor: Actor, proxy_id: int) -> Row[Any]:
    """The proxy if the actor may revoke it (its principal, or customer service); otherwise
    the attempt is refused and audited."""
    proxy = tx.conn.execute(select(proxies).where(proxies.c.id == proxy_id)).first()
    mpid = proxy.metering_point_id if proxy is not None else "-"
    decision = authz.decide(
        tx.conn, actor, Operation.MANAGE_PROXIES, mpid, tx.now.astimezone(OSLO).date()
    )
    if (
        proxy is None
        or not decision.allowed
        or (not actor.is_staff and proxy.principal_id != actor.party_id)
    ):
        raise tx.refuse(
            actor,
            "proxy.revoke",
            "proxy",
            proxy_id,
            decision.reason if not decision.allowed else "not_principal",
        )
    return proxy


@dataclass(frozen=True, slots=True)
class ProxyToRevoke:
    """What the page asking "revoke it?" shows of a power of attorney."""

    id: int
    metering_point_id: str
    agent_name: str
    agent_email: str


def proxy_to_revoke(engine: Engine, actor: Actor, proxy_id: int) -> ProxyToRevoke:
    """The proxy the actor may revoke; refused (and audited) like the revocation itself."""
    with transaction(engine) as tx:
        proxy = _revocable(tx, actor, proxy_id)
        agent = tx.conn.execute(select(parties).where(parties.c.id == proxy.agent_id)).one()
        return ProxyToRevoke(proxy.id, proxy.metering_point_id, agent.display_name, agent.email)


def revoke_proxy(engine: Engine, actor: Actor, proxy_id: int, now: datetime | None = None) -> None:
    with transaction(engine, now) as tx:
        proxy = _revocable(tx, actor, proxy_id)
        if proxy.revoked_at is not None:
            return
        _end(tx, proxy, actor.label, "revoked")


def end_proxies(tx: Tx, principal_id: int, mpid: str) -> int:
    """End every live proxy the principal gave for the metering point (contract ended)."""
    rows = tx.conn.execute(
        select(proxies).where(
            proxies.c.principal_id == principal_id,
            proxies.c.metering_point_id == mpid,
            proxies.c.revoked_at.is_(None),
        )
    ).all()
    for proxy in rows:
        _end(tx, proxy, "system", "contract_ended")
    return len(rows)


def live_proxies(engine: Engine, actor: Actor, *, held: bool) -> list[Row[Any]]:
    """The actor's powers of attorney in force today (not revoked, not past their last day):
    those it holds as the agent (`held`, a provider's list) or those it gave as principal."""
    with transaction(engine) as tx:
        today = tx.now.astimezone(OSLO).date()
        side = proxies.c.agent_id if held else proxies.c.principal_id
        return cast(
            list[Row[Any]],
            tx.conn.execute(
                select(
                    proxies.c.id,
                    proxies.c.metering_point_id,
                    proxies.c.scope,
                    proxies.c.valid_from,
                    proxies.c.valid_to,
                    parties.c.display_name.label("agent_name"),
                    parties.c.email.label("agent_email"),
                )
                .join(parties, parties.c.id == proxies.c.agent_id)
                .where(
                    side == actor.party_id,
                    proxies.c.revoked_at.is_(None),
                    proxies.c.valid_to >= today,
                )
                .order_by(proxies.c.id)
            ).all(),
        )
