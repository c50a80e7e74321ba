"""Mail to a provider reaches the contact address staff registered for it, through a real SMTP
server: the approval, the receipt and done mail of an order it placed through the API, the
customer's move and its withdrawal, and the end of its power of attorney. A provider's party
address (org-<nr>@providers.invalid) is never mailed: not queued, and not sent if queued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from portal_world import World, api_open_body, oslo_today
from sqlalchemy import select

from hanport.portal.db.schema import orders, outbox
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services import notify
from hanport.portal.services.access_requests import answer_request
from hanport.portal.services.move_notices import give_move_notice, withdraw_move_notice
from hanport.portal.services.notify import SmtpMailer
from hanport.portal.services.providers import register_provider
from hanport.portal.services.proxies import revoke_proxy
from hanport.portal.services.recipients import deliverable, recipient_of
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app
from services.smtp import CapturedMail, SmtpCatcher

#: the recipients' statement (an outer join, a CASE, an expanding IN) runs on both dialects
pytestmark = pytest.mark.both_databases

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)
CONTACT = "drift@varme.example"
PARTY_ADDRESS = "org-923609016@providers.invalid"


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _runner(world: World, smtp_server: SmtpCatcher) -> JobRunner:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port)
    return JobRunner(world.engine, world.headend(), mailer, FAST)


async def _sent(runner: JobRunner, smtp_server: SmtpCatcher) -> list[CapturedMail]:
    await runner.run_outbox()
    mails = list(smtp_server.mails)
    smtp_server.clear()
    return mails


def _to_contact(mails: list[CapturedMail]) -> list[str]:
    """The English half of the subjects mailed to the provider's contact address."""
    subjects = []
    for mail in mails:
        if CONTACT in mail.rcpt_tos:
            assert mail.message["To"] == CONTACT
            nb, _, en = str(mail.message["Subject"]).partition(" / ")
            assert nb and en, mail.message["Subject"]  # bokmål and English
            assert "Hei Varmestyring AS" in mail.message.get_content()
            subjects.append(en)
    return subjects


def _never_invalid(mails: list[CapturedMail]) -> None:
    for mail in mails:
        assert all(deliverable(to) for to in mail.rcpt_tos), mail.rcpt_tos
        assert deliverable(str(mail.message["To"]))


def _granted_act_proxy(world: World, client: TestClient, auth: dict[str, str]) -> int:
    today = oslo_today()
    asked = client.post(
        "/api/v1/access-requests",
        headers=auth,
        json={
            "metering_point_id": world.mpid,
            "customer_email": "ola@example.no",
            "scope": "act",
            "valid_from": today.isoformat(),
            "valid_to": (today + timedelta(days=300)).isoformat(),
            "reason": "Styre varmtvannsberederen etter strømprisen",
        },
    )
    assert asked.status_code == 201, asked.text
    proxy_id = answer_request(world.engine, world.holder, asked.json()["id"], approve=True)
    assert proxy_id is not None
    return proxy_id


async def test_a_provider_is_mailed_at_its_contact_address_never_at_invalid(
    world: World, client: TestClient, smtp_server: SmtpCatcher
) -> None:
    registered = register_provider(
        world.engine, world.staff, "923609016", "Varmestyring AS", CONTACT
    )
    with world.engine.connect() as conn:
        assert recipient_of(conn, registered.party_id).address == CONTACT
        assert recipient_of(conn, registered.party_id).lang == "both"
    auth = {"Authorization": f"Bearer {registered.org_key}"}
    runner = _runner(world, smtp_server)
    everything: list[CapturedMail] = await _sent(runner, smtp_server)
    proxy_id = _granted_act_proxy(world, client, auth)
    mails = await _sent(runner, smtp_server)
    everything += mails
    assert [s for s in _to_contact(mails) if "approved" in s]

    # an order the provider places through the API: receipt and done at the contact address
    placed = client.post(
        f"/api/v1/metering-points/{world.mpid}/orders", headers=auth, json=api_open_body(client)
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    with world.engine.connect() as conn:
        stored = conn.execute(select(orders.c.contact_email).where(orders.c.id == order_id))
        assert stored.scalar_one() == CONTACT
    for _ in range(10):
        await runner.run_orders()
    mails = await _sent(runner, smtp_server)
    everything += mails
    assert _to_contact(mails) == [
        f"We have received your order (no. {order_id})",
        f"The HAN port is open (order {order_id})",
    ]
    assert sum("ola@example.no" in m.rcpt_tos for m in mails) == 2  # the holder hears too

    # the customer gives notice of moving, then withdraws it; then revokes the proxy
    moving = (oslo_today() + timedelta(days=30)).isoformat()
    give_move_notice(world.engine, world.holder, world.mpid, moving)
    withdraw_move_notice(world.engine, world.holder, world.mpid)
    revoke_proxy(world.engine, world.holder, proxy_id)
    mails = await _sent(runner, smtp_server)
    everything += mails
    assert _to_contact(mails) == [
        f"Ola Nordmann is moving out from metering point {world.mpid}",
        f"Ola Nordmann is no longer moving out from {world.mpid}",
        f"Your power of attorney for {world.mpid} has ended",
    ]
    _never_invalid(everything)
    with world.engine.connect() as conn:
        queued = conn.execute(select(outbox.c.to_addr)).scalars().all()
    assert queued and all(deliverable(to) for to in queued)


async def test_an_invalid_address_is_never_queued_nor_sent(
    world: World, smtp_server: SmtpCatcher
) -> None:
    now = utcnow()
    with world.engine.begin() as conn:
        notify.enqueue(
            conn,
            now,
            PARTY_ADDRESS,
            "proxy_ended",
            "nb",
            name="x",
            mpid=world.mpid,
            reason="revoked",
        )
        notify.enqueue(
            conn, now, "", "proxy_ended", "nb", name="x", mpid=world.mpid, reason="revoked"
        )
        queued = conn.execute(select(outbox.c.id).where(outbox.c.to_addr == PARTY_ADDRESS))
        assert queued.first() is None
        # a row queued before the rule (an older portal) stays unsent
        old = notify.outbox_row(
            now,
            "ORG-1@Providers.INVALID",
            "proxy_ended",
            "nb",
            None,
            name="x",
            mpid=world.mpid,
            reason="revoked",
        )
        conn.execute(outbox.insert(), old)
    mails = await _sent(_runner(world, smtp_server), smtp_server)
    _never_invalid(mails)
    with world.engine.connect() as conn:
        unsent = conn.execute(
            select(outbox.c.sent_at, outbox.c.attempts).where(
                outbox.c.to_addr == "ORG-1@Providers.INVALID"
            )
        ).one()
    assert tuple(unsent) == (None, 0)
    assert not deliverable("a@b.invalid.") and not deliverable("nobody")
    assert deliverable(CONTACT) and deliverable("kari@invalid.example")
