"""Plain values of the port service. Pure: no I/O, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "ActingFor",
    "Action",
    "Actor",
    "Channel",
    "ModuleOption",
    "Operation",
    "PortState",
    "ProxyScope",
    "Role",
    "SecurityDeclaration",
]


class Role(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


class Action(StrEnum):
    OPEN = "open"
    CLOSE = "close"


class Channel(StrEnum):
    """Where an order came from."""

    PORTAL = "portal"  #: the customer's own pages
    API = "api"  #: a third party with an API key
    BACKOFFICE = "backoffice"  #: customer service's pages
    SYSTEM = "system"  #: the port service itself (the close after a customer change)


class Language(StrEnum):
    """The languages of the port service's pages, e-mails and API messages."""

    NB = "nb"  #: bokmål
    NN = "nn"  #: nynorsk
    EN = "en"


class TermsLanguage(StrEnum):
    """The languages the terms of use are published in (nynorsk is optional per version; a
    nynorsk reader of a version without it reads bokmål)."""

    NB = "nb"
    NN = "nn"
    EN = "en"


class PortState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    OPENING = "opening"
    CLOSING = "closing"
    UNKNOWN = "unknown"


class ProxyScope(StrEnum):
    VIEW = "view"  #: see metering points, port state and orders
    ACT = "act"  #: view + order open/close


class SecurityDeclaration(StrEnum):
    """Where the meter is, so that the unencrypted stream is physically secured (NVE 70/2018)."""

    INSIDE_HOME = "inside_home"
    LOCKED_CABINET = "locked_cabinet"
    LOCKED_ROOM = "locked_room"
    SHARED_LOCKED_ROOM = "shared_locked_room"


class ModuleOption(StrEnum):
    HAVE = "have"
    POST = "post"
    PICKUP = "pickup"


class Operation(StrEnum):
    """Everything a person can do to a metering point; the authorisation matrix covers each."""

    VIEW = "view"  #: metering point, port state, orders
    ORDER = "order"  #: order open or close, cancel own order
    MANAGE_PROXIES = "manage_proxies"  #: invite or revoke proxies
    OVERRIDE = "override"  #: back-office override of an order


@dataclass(frozen=True, slots=True)
class ActingFor:
    """A staff member's explicit step to act for one customer: whom, why, and (for giving a
    proxy on the customer's behalf) the power-of-attorney reference."""

    party_id: int
    display_name: str
    reason: str
    poa_ref: str = ""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a signed-in person (customer or staff) or the system itself."""

    party_id: int | None
    role: Role
    display_name: str
    #: acting through an API key: its scope (a view key may only read); None = signed in / system
    key_scope: ProxyScope | None = None
    #: staff only: the customer they act for after the explicit step; None = not acting
    acting_for: ActingFor | None = None

    @property
    def is_staff(self) -> bool:
        return self.role is Role.STAFF

    @property
    def label(self) -> str:
        return "system" if self.party_id is None else f"party:{self.party_id}"


SYSTEM = Actor(party_id=None, role=Role.STAFF, display_name="system")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  #: short machine reason: holder, proxy, staff, not_holder, proxy_expired …
    proxy_id: int | None = None


@dataclass(frozen=True, slots=True)
class ProxyFacts:
    id: int
    principal_id: int
    agent_id: int
    metering_point_id: str
    scope: ProxyScope
    valid_from: date
    valid_to: date
    revoked_at: datetime | None


def page_channel(actor: Actor) -> Channel:
    """Where an order placed through the web pages comes from: customer service's pages are
    the back office, everyone else's the portal."""
    return Channel.BACKOFFICE if actor.is_staff else Channel.PORTAL
