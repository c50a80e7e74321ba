"""E-mail notifications: an outbox written in the command's transaction, sent by a job.

Messages are in the recipient's language (bokmål, nynorsk or English), from the "portal" message
catalogs. Sending happens outside the transaction with aiosmtplib, so a slow or broken SMTP
server never blocks or loses an order.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from gettext import NullTranslations
from typing import Any, Protocol

import aiosmtplib
from sqlalchemy import Connection, Engine, Row, func, select, update

from hanport.i18n import N_, format_date, format_datetime, translations
from hanport.portal.db.engine import begin_write
from hanport.portal.db.schema import meters, orders, outbox, shipments
from hanport.portal.domain.shipments import HanConnection, delivery_of, han_connection
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.recipients import Recipient, deliverable, recipient_of
from hanport.portal.services.tx import utcnow

__all__ = [
    "MOVE_PAGE_MAILS",
    "POINT_PAGE_MAILS",
    "SMTP_SECURITY",
    "TEMPLATES",
    "ConsoleMailer",
    "Letterhead",
    "Mailer",
    "SmtpMailer",
    "connection_help_text",
    "enqueue",
    "mail_party",
    "mail_to",
    "outbox_row",
    "render",
    "send_pending",
]

log = logging.getLogger(__name__)

#: template -> (subject, body) in English, the catalogs' source language. Fields in braces:
#: name, mpid, order_id, action ("open"/"close"; gives {action} and {done} in words), due,
#: reason, code, principal, scope ("view"/"act"), valid_to, date, new_order_id, by (see render).
#: A date or datetime field is written the recipient's way (04.12.2026 in Norwegian).
TEMPLATES: dict[str, tuple[str, str]] = {
    # providers ask, customers decide: the customer is asked, the provider told the outcome
    "access_requested": (
        N_("{provider} asks for a power of attorney"),
        N_(
            "Hello {name},\n\n{provider} asks for a power of attorney ({scope}) for metering "
            "point {mpid} from {valid_from} to {valid_to}. Their reason: {reason}\n\nApprove or "
            "decline under Requests for access on My page by {expires}. Nothing changes until "
            "you answer; unanswered, the request expires on {expires}.\n"
        ),
    ),
    "access_approved": (
        N_("Access request {request_id} approved"),
        N_(
            "Hello {name},\n\nThe customer approved access request {request_id} for metering "
            "point {mpid}: {scope} until {valid_to}. The power of attorney applies now.\n"
        ),
    ),
    "access_declined": (
        N_("Access request {request_id} declined"),
        N_(
            "Hello {name},\n\nThe customer declined access request {request_id} for metering "
            "point {mpid}.\n"
        ),
    ),
    "access_expired": (
        N_("Access request {request_id} expired"),
        N_(
            "Hello {name},\n\nAccess request {request_id} for metering point {mpid} expired "
            "without an answer from the customer.\n"
        ),
    ),
    # the customer asked hears that the request is gone unanswered
    "access_withdrawn": (
        N_("{provider} has withdrawn its request for a power of attorney"),
        N_(
            "Hello {name},\n\n{provider} has withdrawn the request it sent on {asked} for a "
            "power of attorney ({scope}) for metering point {mpid}. Nothing was granted, and "
            "there is nothing for you to answer.\n"
        ),
    ),
    "access_expired_customer": (
        N_("The request from {provider} has expired"),
        N_(
            "Hello {name},\n\nThe request {provider} sent on {asked} for a power of attorney "
            "({scope}) for metering point {mpid} has expired without an answer. Nothing was "
            "granted. If you want to give them access after all, they must ask again.\n"
        ),
    ),
    "receipt": (
        N_("We have received your order (no. {order_id})"),
        N_(
            "Hello {name},\n\nWe have received the order to {action} the HAN port for "
            "metering point {mpid}. Order number: {order_id}.\nWe carry it out right away and "
            "will tell you when the port is confirmed {done}. At the latest {due}.\n\n"
            "You can follow the order on My page.\n"
        ),
    ),
    "done": (
        N_("The HAN port is {done} (order {order_id})"),
        N_(
            "Hello {name},\n\nThe HAN port for metering point {mpid} is now {done}. We read "
            "the state back from the meter.\n{push}"
        ),
    ),
    "escalated": (
        N_("Order {order_id} is taking longer"),
        N_(
            "Hello {name},\n\nThe meter for metering point {mpid} is not answering right now. "
            "Customer service has the case and follows it up; you will hear from us by {due}. "
            "You do not need to do anything.\n"
        ),
    ),
    "failed": (
        N_("Order {order_id} could not be completed"),
        N_(
            "Hello {name},\n\nWe could not {action} the HAN port for metering point {mpid}.\n"
            "Cause: {reason}\nNext step: customer service will contact you to arrange further "
            "work (e.g. a meter swap). You do not need to order again.\n"
        ),
    ),
    "cancelled": (
        N_("Order {order_id} is cancelled"),
        N_(
            "Hello {name},\n\nThe order to {action} the HAN port for metering point {mpid} "
            "(no. {order_id}) was cancelled by {by}. No command was sent to the meter, so "
            "the HAN port is as it was.\nTo {action} it after all, order again on My page.\n"
        ),
    ),
    "superseded": (
        N_("Order {order_id} is replaced by order {new_order_id}"),
        N_(
            "Hello {name},\n\nThe order to {action} the HAN port for metering point {mpid} "
            "(no. {order_id}) is replaced by a newer order for the same metering point "
            "(no. {new_order_id}) and will not be carried out. The new order is followed up on "
            "its own; you do not need to do anything.\n"
        ),
    ),
    "case_escalated": (
        N_("Case {order_id} needs customer service ({reason})"),
        N_(
            "Order {order_id} ({action} the HAN port, metering point {mpid}) is escalated: "
            "{reason}.\nThe customer was told and expects an answer by {due}.\n"
            "The case: /staff/orders/{order_id}\n"
        ),
    ),
    "signin_code": (
        # The code is in the body only: subject lines show on lock screens and in mail logs.
        N_("Your one-time sign-in code"),
        N_(
            "Your code is {code}. It is valid for 10 minutes.\nIf you did not ask for it, you "
            "can ignore this e-mail.\n"
        ),
    ),
    "proxy_invited": (
        N_("{principal} has given you a power of attorney"),
        N_(
            "Hello {name},\n\n{principal} has given you a power of attorney ({scope}) for "
            "metering point {mpid} until {valid_to}. Sign in with this e-mail address to "
            "use it.\n"
        ),
    ),
    "proxy_ended": (
        N_("Your power of attorney for {mpid} has ended"),
        N_(
            "Hello {name},\n\nYour power of attorney for metering point {mpid} has ended "
            "({reason}).\n"
        ),
    ),
    "moved_out": (
        N_("Your contract on {mpid} has ended"),
        N_(
            "Hello {name},\n\nYour contract on metering point {mpid} ended on {date}. The HAN "
            "port is being closed and proxies you gave for the metering point have ended.\n"
        ),
    ),
    "moved_in": (
        N_("Welcome as customer on {mpid}"),
        N_(
            "Hello {name},\n\nYou are registered as the customer on metering point {mpid} from "
            "{date}. The HAN port is being closed for the change of customer (this may take a "
            "while). To use it, order it opened on My page once it is closed.\n"
        ),
    ),
    # the customer's move ("I am moving"), told to the customer and to those holding their
    # powers of attorney when it is given, changed or withdrawn (services.moves)
    "move_notice": (
        N_("Your move from metering point {mpid} on {date}"),
        N_(
            "Hello {name},\n\nWe have your notice that you are moving out from metering point "
            "{mpid} on {date}. At the start of that day (00:00) the HAN port is closed, your "
            "contract ends, and the powers of attorney you have given for the metering point "
            "end; those who hold them have been told.\nYou can change the date or withdraw the "
            "notice on My page until then.\n"
        ),
    ),
    "move_market_date": (
        N_("Your move from metering point {mpid} is registered for {date}"),
        N_(
            "Hello {name},\n\nThe electricity market has registered your move from metering "
            "point {mpid} on {date}, another date than the one you gave us. {date} applies now: "
            "at the start of that day (00:00) the HAN port is closed, your contract ends, and "
            "the powers of attorney you have given for the metering point end.\nIf the date is "
            "wrong, change it on My page or contact customer service.\n"
        ),
    ),
    "move_withdrawn": (
        N_("Your notice of moving from {mpid} is withdrawn"),
        N_(
            "Hello {name},\n\nYour notice of moving out from metering point {mpid} is "
            "withdrawn. Your contract, the HAN port and the powers of attorney you have given "
            "go on as before.\n"
        ),
    ),
    "move_withdrawn_market": (
        N_("Your notice of moving from {mpid} is withdrawn"),
        N_(
            "Hello {name},\n\nYour notice of moving out from metering point {mpid} is "
            "withdrawn. The electricity market has also registered a change of customer on "
            "{date}, and that still applies: at the start of that day the HAN port is closed "
            "and your contract ends. If it is wrong, contact customer service.\n"
        ),
    ),
    "move_notice_agent": (
        N_("{principal} is moving out from metering point {mpid}"),
        N_(
            "Hello {name},\n\n{principal} is moving out from metering point {mpid} on {date}. "
            "At the start of that day (00:00) the HAN port is closed and the power of attorney "
            "you hold for the metering point ends.\n"
        ),
    ),
    "move_withdrawn_agent": (
        N_("{principal} is no longer moving out from {mpid}"),
        N_(
            "Hello {name},\n\n{principal} has withdrawn the notice of moving out from "
            "metering point {mpid}. The power of attorney you hold goes on as before.\n"
        ),
    ),
    "move_in_invite": (
        N_("The HAN port on {mpid} is ready for you to order"),
        N_(
            "Hello {name},\n\nThe change of customer on metering point {mpid} is done and the "
            "HAN port is closed. If you want the meter's data for your own equipment, order "
            "the HAN port opened on My page: you read and accept the terms, and we open it "
            "right away.\n"
        ),
    ),
    # the new customer, when the market registers them before the move date (services.moves)
    "move_in_invite_from": (
        N_("You can order the HAN port on {mpid} from {date}"),
        N_(
            "Hello {name},\n\nYou are registered as the new customer on metering point {mpid} "
            "from {date}. From that day the metering point is on My page, and if you want the "
            "meter's data for your own equipment you can order the HAN port opened there: you "
            "read and accept the terms, and we open it. At the start of that day the port is "
            "closed for the change of customer; should that take a while, My page says so "
            "until it is done.\n"
        ),
    ),
    "access_ended": (
        N_("Access request {request_id} ended"),
        N_(
            "Hello {name},\n\nAccess request {request_id} for metering point {mpid} ended "
            "without an answer: the customer has moved out from the metering point.\n"
        ),
    ),
    "module_shipped": (
        N_("Your HAN module is on its way (order {order_id})"),
        N_(
            "Hello {name},\n\nThe HAN module for metering point {mpid} has been sent by post. "
            "Tracking reference: {tracking_ref}.\nWhen it arrives, fit it in the module slot on "
            "the meter. Your HAN reader (an M-Bus adapter) plugs into the module's RJ45 "
            "jack.\n"
        ),
    ),
    # customer service marks where the module has got to (services.shipments): it is at the
    # door, or waiting at the pick-up place (the mail's module line gives the place and hours)
    "module_delivered": (
        N_("Your HAN module has been delivered (order {order_id})"),
        N_(
            "Hello {name},\n\nThe HAN module for metering point {mpid} was delivered on "
            "{date}.\nFit it in the module slot on the meter. Your HAN reader (an M-Bus "
            "adapter) plugs into the module's RJ45 jack.\n"
        ),
    ),
    "module_ready": (
        N_("Your HAN module is ready for pick-up (order {order_id})"),
        N_(
            "Hello {name},\n\nThe HAN module for metering point {mpid} is ready for you to "
            "pick up from {date}. Give the order number, {order_id}, when you collect it.\n"
            "Then fit it in the module slot on the meter. Your HAN reader (an M-Bus adapter) "
            "plugs into the module's RJ45 jack.\n"
        ),
    ),
    "acting_started": (
        N_("Customer service is acting on your behalf"),
        N_(
            "Hello {name},\n\n{staff} in customer service is acting on your behalf for "
            "metering point {mpid}.\nReason: {why}\nEverything done on your behalf is logged. "
            "If you did not expect this, contact customer service.\n"
        ),
    ),
    "acting_stopped": (
        N_("Customer service no longer acts on your behalf"),
        N_(
            "Hello {name},\n\n{staff} in customer service has stopped acting on your behalf. "
            "Everything done on your behalf is logged; your orders and powers of attorney are "
            "on My page.\n"
        ),
    ),
}


def _action_words(catalog: NullTranslations, action: str) -> tuple[str, str]:
    """The action as a verb ("to {action} the port") and as the port's state ("is {done}")."""
    if action == "open":
        return catalog.pgettext("verb", "open"), catalog.pgettext("state", "opened")
    if action == "close":
        return catalog.pgettext("verb", "close"), catalog.pgettext("state", "closed")
    return action, action


def _push_note(catalog: NullTranslations, push_seen: bool | None) -> str:
    """After an open: whether the meter's data has been seen yet (None: not an open)."""
    if push_seen is None:
        return ""
    if push_seen:
        return catalog.gettext("We have also seen the meter send data.\n")
    return catalog.gettext(
        "We have not seen data from the meter yet; this can take a while. If your reader "
        "gets no data within an hour, contact us.\n"
    )


def _words(catalog: NullTranslations, field: str, value: str) -> str:
    """A coded field value (scope, the end of a proxy) in words; other values as they are."""
    coded = {
        ("scope", "view"): lambda: catalog.pgettext("proxy scope", "view"),
        ("scope", "act"): lambda: catalog.pgettext("proxy scope", "act"),
        ("reason", "revoked"): lambda: catalog.pgettext("proxy ended", "revoked"),
        ("reason", "contract_ended"): lambda: catalog.gettext("the contract has ended"),
    }
    word = coded.get((field, value))
    return word() if word else value


def _field_values(lang: str, fields: dict[str, object]) -> dict[str, object]:
    catalog = translations("portal", lang)
    values: dict[str, object] = {}
    for field, value in fields.items():
        if isinstance(value, datetime):
            values[field] = format_datetime(value.astimezone(OSLO), lang)
        elif isinstance(value, date):
            values[field] = format_date(value, lang)
        elif isinstance(value, str):
            values[field] = _words(catalog, field, value)
        else:
            values[field] = value
    if isinstance(fields.get("action"), str):
        values["action"], values["done"] = _action_words(catalog, str(fields["action"]))
    push_seen = fields.get("push_seen")
    values["push"] = _push_note(catalog, push_seen if isinstance(push_seen, bool) else None)
    if "by_staff" in fields:
        values["by"] = catalog.gettext("customer service") if fields["by_staff"] else fields["by"]
    return values


#: where the HAN reader goes, by the meter's kind of connection; on the order page and in the
#: mail that the port is open
CONNECTION_HELP: dict[HanConnection, str] = {
    HanConnection.MODULE: N_(
        "Your Kamstrup meter needs a HAN module: it goes in the module slot on the front of "
        "the meter. Plug your HAN reader (an M-Bus adapter) into the module's RJ45 jack."
    ),
    HanConnection.BUILT_IN: N_(
        "Your meter has the HAN port built in: the RJ45 jack on the meter. Plug your HAN "
        "reader (an M-Bus adapter) into it; no module is needed."
    ),
    HanConnection.UNKNOWN: N_(
        "Plug your HAN reader (an M-Bus adapter) into the RJ45 jack of the HAN port: on the "
        "meter itself, or on the HAN module if your meter needs one."
    ),
}


def connection_help_text(manufacturer: str | None) -> str:
    """The (untranslated) help on where to plug the HAN reader in, for the meter's brand."""
    return CONNECTION_HELP[han_connection(manufacturer)]


def _connection_help(catalog: NullTranslations, template: str, fields: dict[str, object]) -> str:
    """After an open: where to plug the reader in, for this meter's brand."""
    brand = fields.get("meter_brand")
    if template != "done" or fields.get("action") != "open" or not isinstance(brand, str):
        return ""
    return "\n" + catalog.gettext(connection_help_text(brand)) + "\n"


def _module_line(catalog: NullTranslations, lang: str, fields: dict[str, object]) -> str:
    """Where the order's HAN module has got to, and where it goes (the delivery address, or
    the pick-up place with its opening hours), for every mail about an order with one."""
    method, state = fields.get("module_method"), fields.get("module_state")
    if not isinstance(method, str) or not isinstance(state, str):
        return ""
    how = {
        "post": lambda: catalog.pgettext("module delivery", "by post"),
        "pickup": lambda: catalog.pgettext("module delivery", "to be picked up"),
    }
    where = {
        "requested": lambda: catalog.pgettext("shipment", "ordered"),
        "shipped": lambda: catalog.pgettext("shipment", "shipped"),
        "delivered": lambda: catalog.pgettext("shipment", "delivered"),
        "ready": lambda: catalog.pgettext("shipment", "ready for pick-up"),
        "picked_up": lambda: catalog.pgettext("shipment", "picked up"),
    }
    line = catalog.gettext("HAN module: {method} – {state}").format(
        method=how[method]() if method in how else method,
        state=where[state]() if state in where else state,
    )
    tracking = fields.get("module_tracking")
    if isinstance(tracking, str) and tracking:
        line += f" ({catalog.gettext('tracking')} {tracking})"
    goes = fields.get("module_delivery")
    if isinstance(goes, dict) and goes.get("address"):
        line += "\n" + catalog.gettext("Delivery address: {address}").format(
            address=goes["address"]
        )
    elif isinstance(goes, dict) and goes.get("place"):
        by_lang: dict[str, str] = goes["hours"]
        hours = by_lang.get(lang) or by_lang["nb"]
        line += "\n" + catalog.gettext(
            "Pick-up place: {place}, {address}. Opening hours: {hours}"
        ).format(place=goes["place"], address=goes["place_address"], hours=hours)
    return f"\n{line}\n"


def render(template: str, lang: str, /, **fields: object) -> tuple[str, str]:
    """Subject and body in `lang` ("nb", "nn" or "en"; another falls back to bokmål). "both"
    gives bokmål then English in one mail (for a shared mailbox whose readers' languages are
    not known). `push_seen` (bool) adds a line to "done" after an open; `by_staff` (bool) and
    `by` (a name) say who cancelled."""
    if lang == "both":
        nb_subject, nb_body = render(template, "nb", **fields)
        en_subject, en_body = render(template, "en", **fields)
        return f"{nb_subject} / {en_subject}", f"{nb_body}\n--- English ---\n\n{en_body}"
    catalog = translations("portal", lang)
    values = _field_values(lang, fields)
    subject, body = TEMPLATES[template]
    text = catalog.gettext(body).format(**values) + _connection_help(catalog, template, fields)
    text += _module_line(catalog, lang, fields)
    return catalog.gettext(subject).format(**values), text


def enqueue(
    conn: Connection,
    now: datetime,
    to: str,
    template: str,
    lang: str,
    /,
    *,
    for_order: int | None = None,
    **fields: object,
) -> None:
    """Queue one mail in the caller's transaction. An address that is not deliverable (empty,
    or under `.invalid`, like a provider's party address) is never queued: mail to a party
    goes to `services.recipients`' address for it."""
    if not deliverable(to):
        log.warning("e-mail %r to the undeliverable address %r not queued", template, to)
        return
    if for_order is not None:
        fields = {**order_fields(conn, for_order), **fields}
    conn.execute(outbox.insert(), outbox_row(now, to, template, lang, for_order, **fields))


def mail_to(
    conn: Connection, now: datetime, who: Recipient, template: str, /, **fields: Any
) -> None:
    """Queue `template` for `who` (services.recipients): at its address, in its language,
    greeting it by name."""
    enqueue(conn, now, who.address, template, who.lang, name=who.name, **fields)


def mail_party(
    conn: Connection, now: datetime, party_id: int, template: str, /, **fields: Any
) -> None:
    """Queue `template` for a party: wherever `services.recipients` says its mail goes."""
    mail_to(conn, now, recipient_of(conn, party_id), template, **fields)


def order_fields(conn: Connection, order_id: int) -> dict[str, object]:
    """What every mail about an order may add: the meter's brand (for where to plug in) and the
    HAN module's shipment (none without a module), so each says where the module has got to."""
    brand = (
        select(meters.c.manufacturer)
        .where(meters.c.metering_point_id == orders.c.metering_point_id)
        .order_by(meters.c.installed_from.desc())
        .limit(1)
        .scalar_subquery()
    )
    # one statement: the brand beside the shipment's row (all None without a module)
    row = conn.execute(
        select(brand.label("meter_brand"), shipments)
        .select_from(orders.outerjoin(shipments, shipments.c.order_id == orders.c.id))
        .where(orders.c.id == order_id)
    ).first()
    if row is None:
        return {}
    found: dict[str, object] = {} if row.meter_brand is None else {"meter_brand": row.meter_brand}
    if row.id is None:
        return found
    return {
        **found,
        "module_method": row.method,
        "module_state": row.state,
        "module_tracking": row.tracking_ref or "",
        "module_delivery": delivery_of(row),
    }


def outbox_row(
    now: datetime,
    to: str,
    template: str,
    lang: str,
    for_order: int | None,
    /,
    **fields: object,
) -> dict[str, Any]:
    """The outbox row of one rendered message, for writers that insert many at once."""
    subject, body = render(template, lang, **fields)
    mpid = fields.get("mpid")
    return {
        "to_addr": to,
        "subject": subject,
        "body": body,
        "template": template,
        "order_id": for_order,
        "metering_point_id": mpid if isinstance(mpid, str) else None,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }


#: mails about a move whose link is the point's move page (/points/{mpid}/move): the customer
#: moving out and those holding their powers of attorney, while the move is still to come
MOVE_PAGE_MAILS = frozenset(
    {
        "move_notice",
        "move_market_date",
        "move_withdrawn",
        "move_withdrawn_market",
        "move_notice_agent",
        "move_withdrawn_agent",
    }
)
#: mails to a move's new customer once their contract has begun: the point's page, to order
POINT_PAGE_MAILS = frozenset({"moved_in", "move_in_invite"})


@dataclass(frozen=True, slots=True)
class Letterhead:
    """What every mail carries besides its text: the company's name and signature, and links
    into the portal (``base_url`` without a trailing slash; empty: no link)."""

    company_name: str = ""
    signature: str = ""
    base_url: str = ""

    def link(self, template: str, order_id: int | None, mpid: str | None = None) -> str | None:
        """The page a mail points to: the order, for customer service's case mail the case, for
        a mail about a move the point's move page (its new customer: the point's page, where
        they order), and for another mail about no order the portal's front page (so too the
        old customer's last mail and the new one's before their contract: neither sees the
        point then)."""
        if not self.base_url:
            return None
        if template == "access_requested":
            return f"{self.base_url}/requests"
        if order_id is None and mpid and template in MOVE_PAGE_MAILS:
            return f"{self.base_url}/points/{mpid}/move"
        if order_id is None and mpid and template in POINT_PAGE_MAILS:
            return f"{self.base_url}/points/{mpid}"
        if order_id is None:
            return f"{self.base_url}/"
        if template == "case_escalated":
            return f"{self.base_url}/staff/orders/{order_id}"
        return f"{self.base_url}/orders/{order_id}"

    def compose(
        self, body: str, template: str, order_id: int | None, mpid: str | None = None
    ) -> str:
        """The body with the link (`link`) after the text and the signature below ("-- ")."""
        parts = [body.rstrip("\n")]
        link = self.link(template, order_id, mpid)
        if link:
            parts.append(link)
        signed = "\n".join(line for line in (self.company_name, self.signature) if line)
        if signed:
            parts.append(f"-- \n{signed}")
        return "\n\n".join(parts) + "\n"


class Mailer(Protocol):
    letterhead: Letterhead

    async def send(self, message: EmailMessage) -> None: ...


#: how `SmtpMailer` talks to the relay: starttls (upgrade required, usually port 587), tls
#: (TLS from the first byte, usually 465), auto (STARTTLS when the relay offers it), none
SMTP_SECURITY = ("starttls", "tls", "auto", "none")


@dataclass
class SmtpMailer:
    """Sends through an SMTP relay; with `username`, it logs in (over TLS only)."""

    host: str
    port: int
    sender: str = "HAN-port <han@nettselskap.example>"
    timeout: float = 10.0
    security: str = "auto"
    username: str | None = None
    password: str | None = None
    reply_to: str | None = None
    ca_file: str | None = None  #: trust this PEM bundle (a company CA) instead of the system's
    letterhead: Letterhead = dataclasses.field(default_factory=Letterhead)

    def __post_init__(self) -> None:
        if self.security not in SMTP_SECURITY:
            raise ValueError(f"security must be one of {', '.join(SMTP_SECURITY)}")
        if self.username and self.security not in ("starttls", "tls"):
            raise ValueError("an SMTP login needs security starttls or tls")

    def _tls(self) -> dict[str, Any]:
        start_tls = {"starttls": True, "tls": False, "auto": None, "none": False}[self.security]
        options: dict[str, Any] = {"use_tls": self.security == "tls", "start_tls": start_tls}
        if self.ca_file and self.security != "none":
            options["tls_context"] = ssl.create_default_context(cafile=self.ca_file)
        return options

    async def send(self, message: EmailMessage) -> None:
        if "From" not in message:
            message["From"] = self.sender
        if self.reply_to and "Reply-To" not in message:
            message["Reply-To"] = self.reply_to
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            username=self.username,
            password=self.password,
            **self._tls(),
        )


@dataclass
class ConsoleMailer:
    """Prints messages instead of sending them: `hanport portal` without an SMTP relay (demo),
    so the sign-in codes are visible in the terminal."""

    sender: str = "HAN-port <han@nettselskap.example>"
    letterhead: Letterhead = dataclasses.field(default_factory=Letterhead)

    async def send(self, message: EmailMessage) -> None:
        print(
            f"--- e-mail to {message['To']}: {message['Subject']}\n{message.get_content()}---",
            flush=True,
        )


async def send_pending(engine: Engine, mailer: Mailer, limit: int = 50) -> int:
    """Send due outbox messages; a failure is retried with backoff. Returns how many were sent."""
    import asyncio

    now = utcnow()

    def load() -> list[Row[Any]]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(outbox)
                    .where(
                        outbox.c.sent_at.is_(None),
                        outbox.c.next_attempt_at <= now,
                        # never mailed (see enqueue); a row queued before that rule stays unsent
                        func.lower(outbox.c.to_addr).not_like("%.invalid"),
                    )
                    .order_by(outbox.c.id)
                    .limit(limit)
                ).all()
            )

    def mark(row_id: int, error: str | None, attempts: int) -> None:
        with begin_write(engine) as conn:
            if error is None:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id)
                    .values(sent_at=utcnow(), attempts=attempts + 1, last_error=None)
                )
            else:
                delay = timedelta(seconds=min(3600, 5 * 2**attempts))
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id)
                    .values(
                        attempts=attempts + 1,
                        last_error=error[:500],
                        next_attempt_at=utcnow() + delay,
                    )
                )

    sent = 0
    for row in await asyncio.to_thread(load):
        message = EmailMessage()
        message["To"] = row.to_addr
        message["Subject"] = row.subject
        message.set_content(
            mailer.letterhead.compose(row.body, row.template, row.order_id, row.metering_point_id)
        )
        try:
            await mailer.send(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("e-mail %s to %s not sent: %s", row.id, row.to_addr, exc)
            await asyncio.to_thread(mark, row.id, str(exc) or type(exc).__name__, row.attempts)
            continue
        await asyncio.to_thread(mark, row.id, None, row.attempts)
        sent += 1
    return sent
