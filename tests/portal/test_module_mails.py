"""The HAN module's last steps in mails, sent through a real SMTP server: when the post has
delivered it, and when it waits at the pick-up place (customer service marks both), in the
customer's language, with the order's link, the place and its opening hours, the day written as
the pages write it, and nothing secret in the subject."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import update
from test_web import sign_in

from hanport.portal.db.schema import parties
from hanport.portal.domain.shipments import PickupPlace
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.intake import submit_order
from hanport.portal.services.notify import Letterhead, SmtpMailer
from hanport.portal.services.shipments import update_shipment
from hanport.portal.web.app import PortalConfig, create_app

PLACES = (
    PickupPlace(
        "Fjordnett kundesenter",
        "Kaigata 1, 6800 Førde",
        "man–fre 08–16",
        "mån–fre 08–16",
        "Mon–Fri 08–16",
    ),
)
#: 23:30 UTC on 4 December is 5 December in Norway: the mail says the Norwegian day
LATE_EVENING = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)


def _speaks(world: World, lang: str) -> None:
    with world.engine.begin() as conn:
        conn.execute(update(parties).where(parties.c.email == "ola@example.no").values(lang=lang))


async def _sent(world: World, smtp_server, subject_part: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    mailer = SmtpMailer(
        smtp_server.host,
        smtp_server.port,
        letterhead=Letterhead("Fjordnett AS", "Kundeservice", "https://nett.example"),
    )
    await JobRunner(world.engine, world.headend(), mailer, FAST).run_outbox()
    return [m for m in smtp_server.messages if subject_part in m["Subject"]]


@pytest.mark.parametrize(
    ("lang", "subject", "said"),
    [
        ("nb", "HAN-modulen din er levert (ordre {id})", "ble levert 05.12.2026"),
        ("nn", "HAN-modulen din har kome fram (ordre {id})", "vart levert 05.12.2026"),
        ("en", "Your HAN module has been delivered (order {id})", "was delivered on 5 December"),
    ],
)
async def test_a_mail_when_the_post_has_delivered_the_module(
    sqlite_world: World, smtp_server, lang: str, subject: str, said: str
) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    _speaks(world, lang)
    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    update_shipment(world.engine, world.staff, order_id, "shipped", "70701234567")
    # the case page sends the reference again with every step
    update_shipment(world.engine, world.staff, order_id, "delivered", "70701234567", LATE_EVENING)
    update_shipment(world.engine, world.staff, order_id, "delivered", "70701234567")  # once
    delivered = await _sent(world, smtp_server, subject.format(id=order_id).split(" (")[0])
    assert [m["Subject"] for m in delivered] == [subject.format(id=order_id)]
    body = delivered[0].get_content()
    assert said in body and "RJ45" in body
    assert f"https://nett.example/orders/{order_id}" in body
    assert "Fjordnett AS" in body and "70701234567" in body  # the module line's tracking


@pytest.mark.parametrize(
    ("lang", "subject", "said", "place"),
    [
        (
            "nb",
            "HAN-modulen din er klar til henting (ordre {id})",
            "klar til henting fra 05.12.2026",
            "Hentested: Fjordnett kundesenter, Kaigata 1, 6800 Førde. Åpningstider: man–fre 08–16",
        ),
        (
            "nn",
            "HAN-modulen din ligg klar til henting (ordre {id})",
            "klar til henting frå 05.12.2026",
            "Hentestad: Fjordnett kundesenter, Kaigata 1, 6800 Førde. Opningstider: mån–fre 08–16",
        ),
        (
            "en",
            "Your HAN module is ready for pick-up (order {id})",
            "ready for you to pick up from 5 December 2026",
            "Pick-up place: Fjordnett kundesenter, Kaigata 1, 6800 Førde. Opening hours: "
            "Mon–Fri 08–16",
        ),
    ],
)
async def test_a_mail_when_the_module_is_ready_for_pick_up(
    sqlite_world: World, smtp_server, lang: str, subject: str, said: str, place: str
) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    _speaks(world, lang)
    request = world.open_request(module_option="pickup")
    order_id = submit_order(world.engine, world.holder, request, places=PLACES)
    update_shipment(world.engine, world.staff, order_id, "ready", now=LATE_EVENING)
    update_shipment(world.engine, world.staff, order_id, "picked_up")  # no mail: they have it
    ready = await _sent(world, smtp_server, subject.format(id=order_id).split(" (")[0])
    assert [m["Subject"] for m in ready] == [subject.format(id=order_id)]
    body = ready[0].get_content()
    assert said in body and place in body and str(order_id) in body
    assert f"https://nett.example/orders/{order_id}" in body
    assert len(world.mails("ola@example.no")) == 2  # the receipt and "ready", nothing on pick-up


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    config = PortalConfig(engine=world.engine, secret_key="module-mail-" * 3, pickup_places=PLACES)
    with TestClient(create_app(config)) as test_client:
        yield test_client


def test_staff_mark_it_ready_and_the_customer_sees_the_step(
    client: TestClient, world: World
) -> None:
    request = world.open_request(module_option="pickup")
    order_id = submit_order(world.engine, world.holder, request, places=PLACES)
    with TestClient(client.app) as staff:
        csrf = sign_in(staff, world, STAFF_EMAIL)
        case = staff.get(f"/staff/orders/{order_id}").text
        assert 'id="mark-ready"' in case and 'id="mark-picked-up"' in case
        marked = staff.post(
            f"/staff/orders/{order_id}/shipment", data={"csrf": csrf, "state": "ready"}
        )
        assert marked.status_code == 200
        assert 'id="mark-ready"' not in marked.text and 'id="mark-picked-up"' in marked.text
        assert "klar til henting" in marked.text.split('id="shipment-where"')[1].split("</p>")[0]
    assert world.mails("ola@example.no")[-1][1] == (
        f"HAN-modulen din er klar til henting (ordre {order_id})"
    )
    sign_in(client, world, "ola@example.no")
    page = client.get(f"/orders/{order_id}").text
    assert '<li aria-current="step"><strong>klar til henting</strong></li>' in page
    assert "<li>hentet</li>" in page
