"""Both sides hear of an access request through a real SMTP server: the holder of a new request
(with a link to the requests page) and of one withdrawn or expired unanswered, the provider's
contact address of approval, decline and expiry; every mail carries the link, the company's
name and signature, dates as dd.mm.yyyy."""

from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage

from portal_world import World
from sqlalchemy import select
from test_access_request_pages import ask_for_access

from hanport.portal.db.schema import audit_events, parties, providers
from hanport.portal.domain.access_requests import Scope
from hanport.portal.domain.model import Actor, Role
from hanport.portal.domain.sla import OSLO
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.access_requests import answer_request, expire_due, withdraw_request
from hanport.portal.services.notify import Letterhead, SmtpMailer
from hanport.portal.services.tx import utcnow

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)
LETTERHEAD = Letterhead("Fjordnett AS", "Kundeservice, tlf. 800 00 000", "https://han.example")
PROVIDER = "drift@varme.example"


async def _sent(world: World, smtp_server) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, letterhead=LETTERHEAD)
    await JobRunner(world.engine, world.headend(), mailer, FAST).run_outbox()
    sent = list(smtp_server.messages)
    smtp_server.clear()
    return sent


def _letterheaded(body: str) -> bool:
    return "Fjordnett AS" in body and "Kundeservice, tlf. 800 00 000" in body


async def test_the_holder_is_asked_by_mail_with_a_link_to_the_page(
    sqlite_world: World, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    await _sent(world, smtp_server)
    ask_for_access(world)
    [mail] = await _sent(world, smtp_server)
    assert mail["To"] == "ola@example.no"
    assert mail["Subject"] == "Varmestyring AS ber om fullmakt"
    body = mail.get_content()
    last = (utcnow().astimezone(OSLO).date() + timedelta(days=365)).strftime("%d.%m.%Y")
    assert f"til {last}" in body and "Styre varmtvannsberederen" in body
    assert "https://han.example/requests" in body and _letterheaded(body)
    # unanswered it expires after the default 14 days, the date written as the pages write it
    expires = (utcnow().astimezone(OSLO).date() + timedelta(days=14)).strftime("%d.%m.%Y")
    assert f"innen {expires}" in body and f"utløper den {expires}" in body


async def test_the_provider_hears_approval_decline_and_expiry(
    sqlite_world: World, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    approved = ask_for_access(world)
    declined = ask_for_access(world, register=False)
    expired = ask_for_access(world, register=False)
    await _sent(world, smtp_server)
    last = utcnow().astimezone(OSLO).date() + timedelta(days=10)
    answer_request(world.engine, world.holder, approved, True, Scope.VIEW, last)
    answer_request(world.engine, world.holder, declined, False)
    assert expire_due(world.engine, timedelta(0)) == 1
    sent = await _sent(world, smtp_server)
    mails = [m for m in sent if m["To"] == PROVIDER]
    # the customer hears of the expiry too (test_the_customer_hears_of_...)
    assert [m["To"] for m in sent if m["To"] != PROVIDER] == ["ola@example.no"]
    assert len(mails) == 3
    subjects = [str(m["Subject"]) for m in mails]
    assert subjects == [
        f"Forespørsel {approved} om tilgang er godkjent / Access request {approved} approved",
        f"Forespørsel {declined} om tilgang er avslått / Access request {declined} declined",
        f"Forespørsel {expired} om tilgang er utløpt / Access request {expired} expired",
    ]
    approval = mails[0].get_content()
    assert f"til og med {last.strftime('%d.%m.%Y')}" in approval
    for mail in mails:
        body = mail.get_content()
        assert "https://han.example/" in body and _letterheaded(body)
        assert world.mpid in body


def _audited(world: World, action: str) -> list[dict[str, object]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.data_json).where(audit_events.c.action == action)
        ).scalars()
        return [json.loads(row) for row in rows]


def _provider(world: World) -> Actor:
    with world.engine.connect() as conn:
        party_id = conn.execute(
            select(providers.c.party_id).where(providers.c.org_number == "923609016")
        ).scalar_one()
    return Actor(party_id, Role.CUSTOMER, "Varmestyring AS")


async def test_the_customer_hears_of_a_withdrawn_and_an_expired_request(
    sqlite_world: World, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    withdrawn = ask_for_access(world)
    expired = ask_for_access(world, register=False)
    await _sent(world, smtp_server)
    withdraw_request(world.engine, _provider(world), withdrawn)
    with world.engine.begin() as conn:  # the next mail in nynorsk
        conn.execute(
            parties.update().where(parties.c.id == world.holder.party_id).values(lang="nn")
        )
    assert expire_due(world.engine, timedelta(0)) == 1
    mails = await _sent(world, smtp_server)
    to_customer = [m for m in mails if m["To"] == "ola@example.no"]
    assert [m["To"] for m in mails if m not in to_customer] == [PROVIDER]  # its expiry
    asked = utcnow().astimezone(OSLO).date().strftime("%d.%m.%Y")
    [gone, lapsed] = to_customer
    assert gone["Subject"] == "Varmestyring AS har trukket tilbake forespørselen om fullmakt"
    body = gone.get_content()
    assert f"forespørselen sendt {asked} om fullmakt (bestille) for målepunkt {world.mpid}" in body
    assert "Ingenting er gitt" in body and _letterheaded(body) and "https://han.example/" in body
    assert lapsed["Subject"] == "Førespurnaden frå Varmestyring AS har gått ut"
    body = lapsed.get_content()
    assert f"Førespurnaden Varmestyring AS sende {asked} om fullmakt" in body
    assert "har gått ut utan svar" in body and _letterheaded(body)
    # both steps are audited as ones that told the customer
    assert [d.get("told") for d in _audited(world, "access_request.withdrawn")] == ["customer"]
    told = [d.get("told") for d in _audited(world, "access_request.expired")]
    assert told == ["customer+provider"]
    assert expired != withdrawn
