"""E-mail when an order is cancelled or superseded, in the recipient's language, through a real
SMTP server: the person who ordered hears of it, and for a proxy's order the holder too."""

from __future__ import annotations

from email.message import EmailMessage

from portal_world import World
from sqlalchemy import select, update

from hanport.portal.db.schema import orders, parties
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.intake import submit_order
from hanport.portal.services.lifecycle import cancel_order, contact_mail
from hanport.portal.services.notify import SmtpMailer
from hanport.portal.services.tx import transaction

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)


def _set_lang(world: World, email: str, lang: str) -> None:
    with world.engine.begin() as conn:
        conn.execute(update(parties).where(parties.c.email == email).values(lang=lang))


async def _sent(world: World, smtp_server) -> dict[str, EmailMessage]:  # type: ignore[no-untyped-def]
    runner = JobRunner(
        world.engine, world.headend(), SmtpMailer(smtp_server.host, smtp_server.port), FAST
    )
    await runner.run_outbox()
    return {str(m["To"]): m for m in smtp_server.messages}


async def test_a_cancelled_order_is_mailed_to_holder_in_bokmal(
    sqlite_world: World, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    order_id = submit_order(world.engine, world.holder, world.open_request())
    smtp_server.clear()
    await _sent(world, smtp_server)  # the receipt goes first
    smtp_server.clear()
    cancel_order(world.engine, world.holder, order_id)
    mails = await _sent(world, smtp_server)
    assert list(mails) == ["ola@example.no"]
    mail = mails["ola@example.no"]
    assert mail["Subject"] == f"Bestilling {order_id} er avbrutt"
    body = mail.get_content()
    assert "Hei Ola Nordmann!" in body
    assert f"om å åpne HAN-porten for målepunkt {world.mpid} (nr. {order_id})" in body
    assert "avbrutt av Ola Nordmann" in body
    assert "Ingen kommando ble sendt" in body


async def test_a_proxys_order_cancelled_by_customer_service_reaches_agent_and_holder(
    world: World, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    _set_lang(world, "agent@provider.example", "en")
    order_id = submit_order(world.engine, world.act_proxy, world.open_request())
    await _sent(world, smtp_server)
    smtp_server.clear()
    cancel_order(world.engine, world.staff, order_id)
    mails = await _sent(world, smtp_server)
    assert set(mails) == {"agent@provider.example", "ola@example.no"}
    agent = mails["agent@provider.example"]
    assert agent["Subject"] == f"Order {order_id} is cancelled"
    assert "Hello Agent Act," in agent.get_content()
    assert "was cancelled by customer service" in agent.get_content()
    assert "the HAN port is as it was" in agent.get_content()
    holder = mails["ola@example.no"]
    assert holder["Subject"] == f"Bestilling {order_id} er avbrutt"
    assert "avbrutt av kundeservice" in holder.get_content()


async def test_the_superseded_notice_in_both_languages(sqlite_world: World, smtp_server) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    _set_lang(world, "agent@provider.example", "en")
    order_id = submit_order(world.engine, world.act_proxy, world.open_request())
    await _sent(world, smtp_server)
    smtp_server.clear()
    # what the intake does for the order it replaces (fields: new_order_id)
    with transaction(world.engine) as tx:
        order = tx.conn.execute(select(orders).where(orders.c.id == order_id)).one()
        contact_mail(tx, order, "superseded", new_order_id=order_id + 1)
    mails = await _sent(world, smtp_server)
    agent, holder = mails["agent@provider.example"], mails["ola@example.no"]
    assert agent["Subject"] == f"Order {order_id} is replaced by order {order_id + 1}"
    assert (
        f"The order to open the HAN port for metering point {world.mpid} (no. {order_id}) is "
        f"replaced by a newer order" in agent.get_content()
    )
    assert holder["Subject"] == (f"Bestilling {order_id} er erstattet av bestilling {order_id + 1}")
    assert "Hei Ola Nordmann!" in holder.get_content()
    assert "blir ikke utført" in holder.get_content()
