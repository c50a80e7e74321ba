"""Where mail to a party goes: the one place that decides a party's address, language and name.

A person is mailed at their own e-mail address, in their language. A provider's party has an
address under the reserved `.invalid` domain (services.providers: unique, never mailed); mail to
it goes to the contact address staff registered for the provider, under the provider's name, in
bokmål and English ("both": its readers' language is not known). Every mail path that writes to
a party asks here (`recipient_of`, `recipients_of`; notify.mail_party), and notify.enqueue
drops any address that is not `deliverable`, so nothing is ever sent to `.invalid`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, case, func, select

from hanport.portal.db.schema import parties, providers

__all__ = [
    "ORG_KIND",
    "PROVIDER_LANG",
    "Recipient",
    "deliverable",
    "recipient_from",
    "recipient_of",
    "recipients_of",
]

#: the kind of a provider's party (an organisation); a person's is "person"
ORG_KIND = "org"
#: the language of mail to a provider's contact address: bokmål then English in one mail
PROVIDER_LANG = "both"

#: RFC 2606's reserved top-level domain: such an address never receives mail
_NEVER_MAILED = "invalid"


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whom a mail to a party reaches: the address, the language ("nb", "nn", "en" or "both")
    and the name it greets."""

    party_id: int
    address: str
    lang: str
    name: str


def deliverable(address: str) -> bool:
    """Whether mail may be sent to `address`: not empty, not under a reserved `.invalid` domain
    (a provider's party address, or anything else never meant to be mailed)."""
    local, at, domain = address.strip().rpartition("@")
    top = domain.lower().rstrip(".").rpartition(".")[2]
    return bool(local and at and top) and top != _NEVER_MAILED


def _recipients() -> Select[Any]:
    is_provider = providers.c.id.is_not(None)
    return select(
        parties.c.id,
        func.coalesce(providers.c.contact_email, parties.c.email).label("address"),
        case((is_provider, PROVIDER_LANG), else_=parties.c.lang).label("lang"),
        func.coalesce(providers.c.name, parties.c.display_name).label("name"),
    ).select_from(parties.outerjoin(providers, providers.c.party_id == parties.c.id))


# built once, run with parameters (the order intake is a hot path)
_ONE = _recipients().where(parties.c.id == bindparam("party_id"))
_MANY = _recipients().where(parties.c.id.in_(bindparam("party_ids", expanding=True)))


def recipients_of(conn: Connection, party_ids: Iterable[int]) -> dict[int, Recipient]:
    """The recipient of each of these parties (one statement), by party id."""
    wanted = sorted(set(party_ids))
    if not wanted:
        return {}
    rows = conn.execute(_MANY, {"party_ids": wanted}).all()
    return {row.id: Recipient(row.id, row.address, row.lang, row.name) for row in rows}


def recipient_of(conn: Connection, party_id: int) -> Recipient:
    """The recipient of one party (it must exist)."""
    row = conn.execute(_ONE, {"party_id": party_id}).one()
    return Recipient(row.id, row.address, row.lang, row.name)


def recipient_from(conn: Connection, party: Row[Any]) -> Recipient:
    """The recipient of a `parties` row already read: a person's row says it all (no
    statement); an organisation's contact is looked up (`recipient_of`)."""
    if party.kind == ORG_KIND:
        return recipient_of(conn, int(party.id))
    return Recipient(int(party.id), party.email, party.lang, party.display_name)
