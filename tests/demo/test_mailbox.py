"""The demo mailbox: real SMTP in, files on disk, a page and JSON out."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx

from hanport.demo.mailbox import Mailbox, StoredMail, create_mailbox_app, start_smtp_server
from services.ports import free_port


def _mail(to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Demo nett <kundeservice@nettselskap.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


async def _send_through_smtp(mailbox: Mailbox, *messages: EmailMessage) -> None:
    port = free_port()
    server = await start_smtp_server(mailbox, "127.0.0.1", port)
    try:
        for message in messages:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
    finally:
        server.close()
        await server.wait_closed()


async def test_messages_are_kept_listed_and_shown(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path / "mail")
    await _send_through_smtp(
        mailbox,
        _mail("ola@example.no", "Din innloggingskode / Your sign-in code", "Koden er 482913."),
        _mail("kari@example.no", "HAN-porten er åpnet", "Målepunkt 707057500000000017 er åpnet."),
    )
    transport = httpx.ASGITransport(app=create_mailbox_app(mailbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://mailbox") as client:
        listed = (await client.get("/api/messages")).json()
        assert [m["subject"] for m in listed] == [
            "HAN-porten er åpnet",
            "Din innloggingskode / Your sign-in code",
        ]
        assert "482913" in listed[1]["text"]
        only_ola = (await client.get("/api/messages", params={"to": "ola@"})).json()
        assert [m["to"] for m in only_ola] == ["ola@example.no"]

        inbox = await client.get("/")
        assert inbox.status_code == 200
        assert "HAN-porten er åpnet" in inbox.text
        assert 'href="/messages/000001"' in inbox.text

        shown = await client.get("/messages/000002")
        assert "707057500000000017" in shown.text
        assert (await client.get("/messages/000099")).status_code == 404
        assert (await client.get("/messages/..%2Fsecret")).status_code == 404


async def test_messages_survive_a_restart_and_numbering_continues(tmp_path: Path) -> None:
    await _send_through_smtp(Mailbox(tmp_path), _mail("a@example.no", "first", "1"))
    reopened = Mailbox(tmp_path)
    assert [mail.subject for mail in reopened.list()] == ["first"]
    await _send_through_smtp(reopened, _mail("a@example.no", "second", "2"))
    assert [(mail.id, mail.subject) for mail in Mailbox(tmp_path).list()] == [
        ("000002", "second"),
        ("000001", "first"),
    ]


async def test_empty_mailbox_page(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=create_mailbox_app(Mailbox(tmp_path)))
    async with httpx.AsyncClient(transport=transport, base_url="http://mailbox") as client:
        page = await client.get("/")
    assert "Ingen e-post ennå" in page.text
    assert (await _json(tmp_path)) == []


async def _json(directory: Path) -> list[object]:
    transport = httpx.ASGITransport(app=create_mailbox_app(Mailbox(directory)))
    async with httpx.AsyncClient(transport=transport, base_url="http://mailbox") as client:
        return list((await client.get("/api/messages")).json())


def test_times_are_norwegian_like_the_portals(tmp_path: Path) -> None:
    # Walking the demo on a machine in UTC: the portal said an order was placed at 09:33, the
    # mailbox listed its receipt at 08:33.
    winter = StoredMail(
        "000001", _mail("a@example.no", "s", "b"), datetime(2026, 12, 5, 8, 33, tzinfo=UTC)
    )
    summer = StoredMail(
        "000002", _mail("a@example.no", "s", "b"), datetime(2026, 7, 1, 8, 33, tzinfo=UTC)
    )
    assert winter.date == "2026-12-05 09:33:00"
    assert summer.date == "2026-07-01 10:33:00"
