"""Providers: organisations staff register so that they can ask customers for access.

A provider gets its own party (kind "org"): its organisation API keys belong to that party (an
org key is an API key whose party is an organisation; the key machinery of services.api_keys
hashes it at rest and shows it once), and customers' approvals make it the agent of proxies.
The party's e-mail is a unique address under the reserved `.invalid` domain, never mailed:
mail to the provider goes to its contact address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, select

from hanport.i18n import N_
from hanport.portal.db.schema import inserted_id, parties, providers
from hanport.portal.domain.access_requests import AccessRequestRefused, validate_org_number
from hanport.portal.domain.model import Actor, ProxyScope
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.api_keys import MAX_KEY_DAYS, create_token
from hanport.portal.services.authz import require_staff
from hanport.portal.services.errors import Conflict, InvalidInput, Text, text
from hanport.portal.services.proxies import valid_email
from hanport.portal.services.recipients import ORG_KIND
from hanport.portal.services.tx import transaction

__all__ = ["NAME_MAX", "ORG_KIND", "RegisteredProvider", "list_providers", "register_provider"]

NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class RegisteredProvider:
    provider_id: int
    party_id: int
    org_key: str  #: shown once to staff, who hand it to the provider; stored only hashed


def _validated(org_number: str, name: str, contact_email: str) -> tuple[str, str, str]:
    errors: dict[str, Text | str] = {}
    number = ""
    try:
        number = validate_org_number(org_number)
    except AccessRequestRefused as refused:
        errors["org_number"] = (
            N_("The organisation number's check digit does not match – check the number")
            if refused.code == "org_number_check_digit"
            else N_("The organisation number is 9 digits and starts with 8 or 9")
        )
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        errors["name"] = text(
            N_("Give the provider's name (at most {max} characters)"), max=NAME_MAX
        )
    email = valid_email(contact_email)
    if email is None:
        errors["contact_email"] = N_("Give a valid contact e-mail address")
    if errors:
        raise InvalidInput(errors)
    return number, name, email or ""


def register_provider(
    engine: Engine,
    staff: Actor,
    org_number: str,
    name: str,
    contact_email: str,
    now: datetime | None = None,
) -> RegisteredProvider:
    """Register a provider and give it its first organisation API key (act, one year)."""
    require_staff(staff)
    number, name, email = _validated(org_number, name, contact_email)
    with transaction(engine, now) as tx:
        taken = tx.conn.execute(
            select(providers.c.id).where(providers.c.org_number == number)
        ).first()
        if taken is not None:
            raise Conflict(
                N_("A provider with organisation number {org_number} is already registered"),
                code="provider_exists",
                org_number=number,
            )
        party_id = inserted_id(
            tx.conn.execute(
                parties.insert().values(
                    kind=ORG_KIND,
                    display_name=name,
                    email=f"org-{number}@providers.invalid",
                    lang="nb",
                    role="customer",
                    created_at=tx.now,
                )
            )
        )
        provider_id = inserted_id(
            tx.conn.execute(
                providers.insert().values(
                    party_id=party_id,
                    org_number=number,
                    name=name,
                    contact_email=email,
                    created_at=tx.now,
                    created_by=staff.label,
                )
            )
        )
        tx.audit(staff, "provider.registered", "provider", provider_id, org_number=number)
        today = tx.now.astimezone(OSLO).date()
    key = create_token(
        engine, party_id, f"{name} (org)", scope=ProxyScope.ACT, last_day=_key_end(today), now=now
    )
    return RegisteredProvider(provider_id, party_id, key)


def _key_end(today: date) -> date:
    return today + timedelta(days=MAX_KEY_DAYS)


def list_providers(engine: Engine, staff: Actor) -> list[Row[Any]]:
    """The registered providers, by name (the back office's list)."""
    require_staff(staff)
    with transaction(engine) as tx:
        return list(tx.conn.execute(select(providers).order_by(providers.c.name)).all())
