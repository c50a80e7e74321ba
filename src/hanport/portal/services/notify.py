"""E-mail notifications: an outbox written in the command's transaction, sent by a job.

Messages are in the recipient's language (bokmål or English). Sending happens outside the
transaction with aiosmtplib, so a slow or broken SMTP server never blocks or loses an order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
from sqlalchemy import Connection, Engine, Row, select, update

from hanport.portal.db.engine import begin_write
from hanport.portal.db.schema import outbox
from hanport.portal.services.tx import utcnow

__all__ = [
    "TEMPLATES",
    "ConsoleMailer",
    "Mailer",
    "SmtpMailer",
    "enqueue",
    "outbox_row",
    "send_pending",
]

log = logging.getLogger(__name__)

ACTION_WORDS = {
    "nb": {"open": "åpne", "close": "stenge", "opened": "åpnet", "closed": "stengt"},
    "en": {"open": "open", "close": "close", "opened": "opened", "closed": "closed"},
}

#: template -> lang -> (subject, body); fields: name, mpid, order_id, action, done, due, reason;
#: `cancelled` also by_nb/by_en (who cancelled), `superseded` also new_order_id
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "receipt": {
        "nb": (
            "Vi har mottatt bestillingen din (nr. {order_id})",
            "Hei {name}!\n\nVi har mottatt bestillingen om å {action} HAN-porten for "
            "målepunkt {mpid}. Bestillingsnummer: {order_id}.\nVi utfører den med en gang og "
            "gir beskjed når porten er bekreftet {done}. Senest {due}.\n\n"
            "Du kan følge bestillingen på Min side.\n",
        ),
        "en": (
            "We have received your order (no. {order_id})",
            "Hello {name},\n\nWe have received the order to {action} the HAN port for "
            "metering point {mpid}. Order number: {order_id}.\nWe carry it out right away and "
            "will tell you when the port is confirmed {done}. At the latest {due}.\n\n"
            "You can follow the order on My page.\n",
        ),
    },
    "done": {
        "nb": (
            "HAN-porten er {done} (bestilling {order_id})",
            "Hei {name}!\n\nHAN-porten for målepunkt {mpid} er nå {done}. Vi har lest "
            "tilstanden tilbake fra måleren{push_nb}.\n",
        ),
        "en": (
            "The HAN port is {done} (order {order_id})",
            "Hello {name},\n\nThe HAN port for metering point {mpid} is now {done}. We read "
            "the state back from the meter{push_en}.\n",
        ),
    },
    "escalated": {
        "nb": (
            "Bestilling {order_id} tar lengre tid",
            "Hei {name}!\n\nMåleren for målepunkt {mpid} svarer ikke akkurat nå. Kundeservice "
            "har fått saken og følger den opp; du hører fra oss senest {due}. Du trenger "
            "ikke gjøre noe.\n",
        ),
        "en": (
            "Order {order_id} is taking longer",
            "Hello {name},\n\nThe meter for metering point {mpid} is not answering right now. "
            "Customer service has the case and follows it up; you will hear from us by {due}. "
            "You do not need to do anything.\n",
        ),
    },
    "failed": {
        "nb": (
            "Bestilling {order_id} kunne ikke fullføres",
            "Hei {name}!\n\nVi fikk ikke til å {action} HAN-porten for målepunkt {mpid}.\n"
            "Årsak: {reason}\nNeste steg: kundeservice kontakter deg for å avtale videre "
            "arbeid (f.eks. bytte av måler). Du trenger ikke bestille på nytt.\n",
        ),
        "en": (
            "Order {order_id} could not be completed",
            "Hello {name},\n\nWe could not {action} the HAN port for metering point {mpid}.\n"
            "Cause: {reason}\nNext step: customer service will contact you to arrange further "
            "work (e.g. a meter swap). You do not need to order again.\n",
        ),
    },
    "cancelled": {
        "nb": (
            "Bestilling {order_id} er avbrutt",
            "Hei {name}!\n\nBestillingen om å {action} HAN-porten for målepunkt {mpid} "
            "(nr. {order_id}) er avbrutt av {by_nb}. Ingen kommando ble sendt til måleren, så "
            "HAN-porten er som før.\nVil du likevel {action} den, kan du bestille på nytt på "
            "Min side.\n",
        ),
        "en": (
            "Order {order_id} is cancelled",
            "Hello {name},\n\nThe order to {action} the HAN port for metering point {mpid} "
            "(no. {order_id}) was cancelled by {by_en}. No command was sent to the meter, so "
            "the HAN port is as it was.\nTo {action} it after all, order again on My page.\n",
        ),
    },
    "superseded": {
        "nb": (
            "Bestilling {order_id} er erstattet av bestilling {new_order_id}",
            "Hei {name}!\n\nBestillingen om å {action} HAN-porten for målepunkt {mpid} "
            "(nr. {order_id}) er erstattet av en nyere bestilling for samme målepunkt "
            "(nr. {new_order_id}) og blir ikke utført. Den nye bestillingen følges opp for seg; "
            "du trenger ikke gjøre noe.\n",
        ),
        "en": (
            "Order {order_id} is replaced by order {new_order_id}",
            "Hello {name},\n\nThe order to {action} the HAN port for metering point {mpid} "
            "(no. {order_id}) is replaced by a newer order for the same metering point "
            "(no. {new_order_id}) and will not be carried out. The new order is followed up on "
            "its own; you do not need to do anything.\n",
        ),
    },
    "case_escalated": {
        "nb": (
            "Sak {order_id} trenger kundeservice ({reason})",
            "Bestilling {order_id} ({action} HAN-porten, målepunkt {mpid}) er eskalert: "
            "{reason}.\nKunden er varslet og venter svar senest {due}.\n"
            "Saken: /staff/orders/{order_id}\n",
        ),
        "en": (
            "Case {order_id} needs customer service ({reason})",
            "Order {order_id} ({action} the HAN port, metering point {mpid}) is escalated: "
            "{reason}.\nThe customer was told and expects an answer by {due}.\n"
            "The case: /staff/orders/{order_id}\n",
        ),
    },
    "signin_code": {
        "nb": (
            "Engangskode for innlogging: {code}",
            "Koden din er {code}. Den gjelder i 10 minutter.\nHar du ikke bedt om den, kan du "
            "se bort fra denne e-posten.\n",
        ),
        "en": (
            "One-time sign-in code: {code}",
            "Your code is {code}. It is valid for 10 minutes.\nIf you did not ask for it, you "
            "can ignore this e-mail.\n",
        ),
    },
    "proxy_invited": {
        "nb": (
            "{principal} har gitt deg fullmakt",
            "Hei {name}!\n\n{principal} har gitt deg fullmakt ({scope}) for målepunkt {mpid} "
            "til og med {valid_to}. Logg inn med denne e-postadressen for å bruke den.\n",
        ),
        "en": (
            "{principal} has given you a power of attorney",
            "Hello {name},\n\n{principal} has given you a power of attorney ({scope}) for "
            "metering point {mpid} until {valid_to}. Sign in with this e-mail address to "
            "use it.\n",
        ),
    },
    "proxy_ended": {
        "nb": (
            "Fullmakten din for {mpid} er avsluttet",
            "Hei {name}!\n\nFullmakten din for målepunkt {mpid} er avsluttet ({reason}).\n",
        ),
        "en": (
            "Your power of attorney for {mpid} has ended",
            "Hello {name},\n\nYour power of attorney for metering point {mpid} has ended "
            "({reason}).\n",
        ),
    },
    "moved_out": {
        "nb": (
            "Kundeforholdet på {mpid} er avsluttet",
            "Hei {name}!\n\nKundeforholdet ditt på målepunkt {mpid} sluttet {date}. "
            "HAN-porten stenges, og fullmakter du har gitt for målepunktet er avsluttet.\n",
        ),
        "en": (
            "Your contract on {mpid} has ended",
            "Hello {name},\n\nYour contract on metering point {mpid} ended on {date}. The HAN "
            "port is being closed and proxies you gave for the metering point have ended.\n",
        ),
    },
    "moved_in": {
        "nb": (
            "Velkommen som kunde på {mpid}",
            "Hei {name}!\n\nDu er registrert som kunde på målepunkt {mpid} fra {date}. "
            "HAN-porten stenges ved kundeskiftet (det kan ta litt tid). Vil du bruke den, kan du "
            "bestille åpning på Min side når den er stengt.\n",
        ),
        "en": (
            "Welcome as customer on {mpid}",
            "Hello {name},\n\nYou are registered as the customer on metering point {mpid} from "
            "{date}. The HAN port is being closed for the change of customer (this may take a "
            "while). To use it, order it opened on My page once it is closed.\n",
        ),
    },
}


def render(template: str, lang: str, /, **fields: object) -> tuple[str, str]:
    """Subject and body in `lang`; "both" gives bokmål then English in one mail (for a shared
    mailbox whose readers' languages are not known)."""
    if lang == "both":
        nb_subject, nb_body = render(template, "nb", **fields)
        en_subject, en_body = render(template, "en", **fields)
        return f"{nb_subject} / {en_subject}", f"{nb_body}\n--- English ---\n\n{en_body}"
    lang = lang if lang in ("nb", "en") else "nb"
    words = ACTION_WORDS[lang]
    values: dict[str, object] = {"push_nb": "", "push_en": "", **fields}
    if isinstance(values.get("action"), str):
        action = str(values["action"])
        values["done"] = words["opened" if action == "open" else "closed"]
        values["action"] = words.get(action, action)
    subject, body = TEMPLATES[template][lang]
    return subject.format(**values), body.format(**values)


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
    conn.execute(outbox.insert().values(outbox_row(now, to, template, lang, for_order, **fields)))


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
    return {
        "to_addr": to,
        "subject": subject,
        "body": body,
        "template": template,
        "order_id": for_order,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass
class SmtpMailer:
    host: str
    port: int
    sender: str = "HAN-port <han@nettselskap.example>"
    timeout: float = 10.0

    async def send(self, message: EmailMessage) -> None:
        if "From" not in message:
            message["From"] = self.sender
        await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout)


@dataclass
class ConsoleMailer:
    """Prints messages instead of sending them: `hanport portal` without --smtp (demo), so the
    sign-in codes are visible in the terminal."""

    sender: str = "HAN-port <han@nettselskap.example>"

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
                    .where(outbox.c.sent_at.is_(None), outbox.c.next_attempt_at <= now)
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
        message.set_content(row.body)
        try:
            await mailer.send(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("e-mail %s to %s not sent: %s", row.id, row.to_addr, exc)
            await asyncio.to_thread(mark, row.id, str(exc) or type(exc).__name__, row.attempts)
            continue
        await asyncio.to_thread(mark, row.id, None, row.attempts)
        sent += 1
    return sent
