"""Mail through a company's relay as configured: STARTTLS or TLS from the first byte, a login,
the sender's name and address, Reply-To, a link to the order and the company's signature.

The relay is aiosmtpd with a self-signed certificate made in the test, requiring TLS and AUTH.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import aiosmtplib
import pytest
from portal_world import World
from sqlalchemy import select

from hanport.portal.cli import mailer_for
from hanport.portal.db.schema import outbox
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.intake import submit_order
from hanport.portal.services.notify import Letterhead
from hanport.portal.settings import load_settings
from services.smtp import SmtpCatcher

# aiosmtpd warns for TLS from the first byte too: it counts only STARTTLS as TLS
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)
SIGNATURE = "Kundeservice · 800 12 345"


@pytest.fixture(params=["starttls", "tls"])
def relay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmtpCatcher]:
    security: Literal["starttls", "tls"] = request.param
    catcher = SmtpCatcher(security, cert_dir=tmp_path)
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()


def _config(tmp_path: Path, relay: SmtpCatcher) -> str:
    path = tmp_path / "portal.toml"
    path.write_text(
        f"""
[company]
name = "Fjordnett AS"
signature = "{SIGNATURE}"
base_url = "https://han.fjordnett.example/"

[mail]
host = "{relay.host}"
port = {relay.port}
security = "{relay.secure}"
username = "{relay.username}"
ca_file = "{relay.ca_file}"
sender_name = "Fjordnett HAN-port"
sender_address = "han@fjordnett.example"
reply_to = "kundeservice@fjordnett.example"
""",
        encoding="utf-8",
    )
    return str(path)


async def test_the_order_receipt_goes_through_the_relay_signed_and_linked(
    sqlite_world: World, relay: SmtpCatcher, tmp_path: Path
) -> None:
    world = sqlite_world
    settings = load_settings(
        config=_config(tmp_path, relay),
        environ={"HANPORT_PORTAL_MAIL_PASSWORD": relay.password},
    )
    order_id = submit_order(world.engine, world.holder, world.open_request())
    runner = JobRunner(world.engine, world.headend(), mailer_for(settings), FAST)
    assert await runner.run_outbox() == len(world.mails())

    receipt = await relay.wait_for_async(lambda m: "mottatt bestillingen" in str(m["Subject"]))
    assert receipt["From"] == "Fjordnett HAN-port <han@fjordnett.example>"
    assert receipt["Reply-To"] == "kundeservice@fjordnett.example"
    assert receipt["To"] == "ola@example.no"
    body = receipt.get_content().replace("\r\n", "\n")
    assert f"\nhttps://han.fjordnett.example/orders/{order_id}\n" in body
    assert body.endswith(f"\n-- \nFjordnett AS\n{SIGNATURE}\n")
    assert re.search(r"\b\d{2}\.\d{2}\.\d{4}\b", body), body  # the page's dd.mm.yyyy
    assert relay.refused_logins == 0


async def test_a_wrong_password_keeps_the_mail_for_later(
    sqlite_world: World, relay: SmtpCatcher, tmp_path: Path
) -> None:
    world = sqlite_world
    settings = load_settings(
        config=_config(tmp_path, relay),
        environ={"HANPORT_PORTAL_MAIL_PASSWORD": "not-the-password"},
    )
    submit_order(world.engine, world.holder, world.open_request())
    runner = JobRunner(world.engine, world.headend(), mailer_for(settings), FAST)
    assert await runner.run_outbox() == 0
    with world.engine.connect() as conn:
        rows = conn.execute(select(outbox)).all()
    assert rows and all(r.sent_at is None and r.attempts == 1 and r.last_error for r in rows)
    assert relay.mails == [] and relay.refused_logins >= 1


async def test_the_relay_refuses_a_login_before_tls(tmp_path: Path) -> None:
    relay = SmtpCatcher("starttls", cert_dir=tmp_path)
    relay.start()
    try:
        client = aiosmtplib.SMTP(hostname=relay.host, port=relay.port, start_tls=False)
        async with client:
            with pytest.raises(aiosmtplib.SMTPException):
                await client.login(relay.username, relay.password)
            with pytest.raises(aiosmtplib.SMTPException):
                await client.sendmail("a@example.no", ["b@example.no"], "Subject: x\r\n\r\nx")
    finally:
        relay.stop()
    assert relay.mails == []


def test_a_mail_about_no_order_links_the_portal_and_is_signed() -> None:
    letterhead = Letterhead("Fjordnett AS", SIGNATURE, "https://han.fjordnett.example")
    body = letterhead.compose("Hei Kari!\n\nDu har fått fullmakt.\n", "proxy_invited", None)
    assert body == (
        "Hei Kari!\n\nDu har fått fullmakt.\n\nhttps://han.fjordnett.example/\n\n"
        f"-- \nFjordnett AS\n{SIGNATURE}\n"
    )
    case = letterhead.compose("Sak 7\n", "case_escalated", 7)
    assert "\nhttps://han.fjordnett.example/staff/orders/7\n" in case
