"""The demo's local mailbox: an SMTP server on loopback that keeps every message as an ``.eml``
file, and a web page listing them (the demo has no real mail server, but the port service's
sign-in codes and confirmations must be readable somewhere).

Messages survive a restart of the demo because they are files in the demo folder.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

__all__ = ["Mailbox", "StoredMail", "create_mailbox_app", "start_smtp_server"]

_NAME = re.compile(r"^(\d{6})\.eml$")
# the demo's pages show Norwegian time; so does its mailbox, whatever the machine's zone
_OSLO = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True, slots=True)
class StoredMail:
    id: str
    message: EmailMessage
    received_at: datetime

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def sender(self) -> str:
        return str(self.message.get("From", ""))

    @property
    def recipients(self) -> str:
        return str(self.message.get("To", ""))

    @property
    def date(self) -> str:
        """When the mailbox received it, Norwegian time as the portal shows it (the Date header
        may be missing or odd)."""
        return self.received_at.astimezone(_OSLO).strftime("%Y-%m-%d %H:%M:%S")

    def text(self) -> str:
        """The plain-text body (or the HTML body with its tags removed)."""
        part = self.message.get_body(preferencelist=("plain",))
        if part is not None:
            return str(part.get_content())
        part = self.message.get_body(preferencelist=("html",))
        if part is not None:
            return re.sub(r"<[^>]+>", "", str(part.get_content()))
        return ""

    def html_body(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.recipients,
            "subject": self.subject,
            "date": self.date,
            "text": self.text(),
        }


class Mailbox:
    """Messages as numbered ``.eml`` files in ``directory``; newest first when listed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        numbers = [int(m.group(1)) for p in directory.iterdir() if (m := _NAME.match(p.name))]
        self._next = max(numbers, default=0) + 1
        self._lock = asyncio.Lock()

    async def add(self, raw: bytes) -> str:
        async with self._lock:
            number, self._next = self._next, self._next + 1
        name = f"{number:06d}"
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(raw)
        os.replace(temporary, self.directory / f"{name}.eml")  # readers never see half a file
        return name

    def get(self, mail_id: str) -> StoredMail | None:
        if not re.fullmatch(r"\d{6}", mail_id):
            return None
        path = self.directory / f"{mail_id}.eml"
        if not path.is_file():
            return None
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        received_at = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        return StoredMail(mail_id, message, received_at)

    def list(self, to: str | None = None) -> list[StoredMail]:
        names = sorted((p.stem for p in self.directory.glob("*.eml")), reverse=True)
        mails = [mail for name in names if (mail := self.get(name)) is not None]
        if to:
            mails = [mail for mail in mails if to.lower() in mail.recipients.lower()]
        return mails


class _MailboxHandler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        await self.mailbox.add(raw)
        return "250 Message accepted for delivery"


async def start_smtp_server(mailbox: Mailbox, host: str, port: int) -> asyncio.Server:
    """An SMTP server in the running event loop; every message goes into ``mailbox``."""
    loop = asyncio.get_running_loop()
    handler = _MailboxHandler(mailbox)
    return await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="hanport-demo", ident="hanport demo"),
        host=host,
        port=port,
    )


_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d3557;color:#fff;padding:1rem 1.5rem}header h1{margin:0;font-size:1.3rem}
main{max-width:60rem;margin:1.5rem auto;padding:0 1rem}
table{width:100%;border-collapse:collapse;background:#fff}
th,td{text-align:left;padding:.55rem .7rem;border-bottom:1px solid #e1e4ea;vertical-align:top}
th{background:#eef1f5;font-weight:600}a{color:#1d4ed8}
pre{white-space:pre-wrap;background:#fff;padding:1rem;border:1px solid #e1e4ea}
.empty{padding:2rem;background:#fff;text-align:center;color:#5b6475}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;padding:1rem}
dt{font-weight:600}iframe{width:100%;min-height:24rem;border:1px solid #e1e4ea;background:#fff}
dl{grid-template-columns:max-content minmax(0,1fr)}td,dd,pre,a,h1{overflow-wrap:anywhere}
@media (max-width:40rem){table,tbody,tr,td{display:block}thead{position:absolute;width:1px;
height:1px;overflow:hidden;clip:rect(0 0 0 0)}td{border:0;padding:.15rem .7rem}
tr{border-bottom:1px solid #e1e4ea;padding:.4rem 0}dl{grid-template-columns:minmax(0,1fr)}}
"""


def _page(title: str, body: str, refresh: bool = False, status_code: int = 200) -> HTMLResponse:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    return HTMLResponse(
        f'<!doctype html><html lang="nb"><head><meta charset="utf-8">{meta}'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No favicon: an empty one keeps the browser from asking for /favicon.ico.
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>hanport demo – e-post / mailbox</h1></header><main>{body}</main>"
        "</body></html>",
        status_code=status_code,
    )


def create_mailbox_app(mailbox: Mailbox) -> Starlette:
    """``/`` lists the messages, ``/messages/{id}`` shows one, ``/api/messages`` as JSON."""

    async def inbox(request: Request) -> Response:
        to = request.query_params.get("to") or None
        mails = mailbox.list(to)
        intro = (
            "<p>All e-post demoen sender havner her (det finnes ingen ekte e-postserver). "
            "/ Every e-mail the demo sends lands here (there is no real mail server). "
            "Siden oppdateres av seg selv. / The page refreshes itself.</p>"
        )
        if not mails:
            return _page(
                "Innboks / Inbox",
                intro + '<p class="empty">Ingen e-post ennå. / No e-mail yet.</p>',
                refresh=True,
            )
        rows = "".join(
            f"<tr><td>{html.escape(mail.date)}</td><td>{html.escape(mail.recipients)}</td>"
            f'<td><a href="/messages/{mail.id}">{html.escape(mail.subject or "(uten emne)")}</a>'
            f"</td><td>{html.escape(mail.sender)}</td></tr>"
            for mail in mails
        )
        table = (
            '<table id="messages"><thead><tr><th>Tid / Time</th><th>Til / To</th>'
            "<th>Emne / Subject</th><th>Fra / From</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
        return _page(f"Innboks ({len(mails)}) / Inbox", intro + table, refresh=True)

    async def message(request: Request) -> Response:
        mail = mailbox.get(request.path_params["mail_id"])
        if mail is None:
            return _page(
                "Fant ikke / Not found",
                '<p>Denne e-posten finnes ikke. / No such e-mail. <a href="/">Innboks / Inbox</a>'
                "</p>",
                status_code=404,
            )
        fields = "".join(
            f"<dt>{label}</dt><dd>{html.escape(value)}</dd>"
            for label, value in (
                ("Fra / From", mail.sender),
                ("Til / To", mail.recipients),
                ("Emne / Subject", mail.subject),
                ("Tid / Time", mail.date),
            )
        )
        html_body = mail.html_body()
        plain = mail.message.get_body(preferencelist=("plain",))
        if plain is not None or html_body is None:
            body = f'<pre id="body">{html.escape(mail.text())}</pre>'
        else:
            # Mail HTML is shown sandboxed: no scripts, no access to this page.
            body = f'<iframe id="body" sandbox srcdoc="{html.escape(html_body)}"></iframe>'
        return _page(
            mail.subject or "E-post",
            f'<p><a href="/">← Innboks / Inbox</a></p><dl>{fields}</dl>{body}',
        )

    async def api_messages(request: Request) -> Response:
        to = request.query_params.get("to") or None
        return JSONResponse([mail.to_json() for mail in mailbox.list(to)])

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/favicon.ico", favicon),
            Route("/", inbox),
            Route("/messages/{mail_id}", message),
            Route("/api/messages", api_messages),
        ]
    )
