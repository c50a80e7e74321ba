"""The HAN module's journey in mails: a mail when it is sent, with the tracking reference, and
the module's state in every mail about an order that involves one."""

from __future__ import annotations

import pytest
from portal_world import World

from hanport.portal.services import notify
from hanport.portal.services.errors import Conflict
from hanport.portal.services.intake import submit_order
from hanport.portal.services.shipments import update_shipment


def test_the_customer_is_told_once_when_the_module_is_sent(world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    receipt = world.mails()[-1]
    assert "HAN-modul: i posten – bestilt" in receipt[2]  # the receipt says it is ordered
    before = len(world.mails())
    update_shipment(world.engine, world.staff, order_id, "shipped", "70701234567")
    update_shipment(world.engine, world.staff, order_id, "shipped", "70701234568")
    sent = world.mails()[before:]
    assert len(sent) == 1  # a corrected reference does not send the mail again
    _, subject, body = sent[0]
    assert f"ordre {order_id}" in subject
    assert "Sporingsnummer: 70701234567" in body
    assert "RJ45" in body
    assert "HAN-modul: i posten – sendt" in body


def test_a_mail_about_an_order_without_a_module_has_no_module_line(world: World) -> None:
    submit_order(world.engine, world.holder, world.open_request(module_option="have"))
    assert "HAN-modul:" not in world.mails()[-1][2]


def test_a_picked_up_module_is_never_mailed_as_sent(world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="pickup"))
    before = len(world.mails())
    with pytest.raises(Conflict):
        update_shipment(world.engine, world.staff, order_id, "shipped", "1")
    update_shipment(world.engine, world.staff, order_id, "picked_up")
    assert world.mails()[before:] == []


@pytest.mark.parametrize(
    ("lang", "line"),
    [
        ("nb", "HAN-modul: hentes – hentet"),
        ("nn", "HAN-modul: vert henta – henta"),
        ("en", "HAN module: to be picked up – picked up (tracking X1)"),
    ],
)
def test_the_module_line_in_each_language(lang: str, line: str) -> None:
    fields = {"module_method": "pickup", "module_state": "picked_up", "module_tracking": "X1"}
    _, body = notify.render("signin_code", lang, code="123456", **fields)
    assert line in body


@pytest.mark.parametrize(
    ("manufacturer", "kind"),
    [("Kamstrup A/S", "module"), ("AIDON", "built_in"), ("Kaifa", "built_in"), ("", "unknown")],
)
def test_where_the_reader_goes_follows_the_meters_brand(manufacturer: str, kind: str) -> None:
    from hanport.portal.domain.shipments import han_connection

    assert han_connection(manufacturer).value == kind


async def test_the_opened_mail_and_the_order_page_say_where_to_plug_in(world: World) -> None:
    from hanport.portal.jobs import JobRunner, JobSettings
    from hanport.portal.services import views

    fast = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)
    runner = JobRunner(world.engine, world.headend(), None, fast)
    order_id = submit_order(world.engine, world.holder, world.open_request())
    for _ in range(10):
        await runner.run_orders()
    page = views.order_page(world.engine, world.holder, order_id)
    assert page["order"].state == "completed"
    brand_help = notify.connection_help_text(page["point"]["manufacturer"])
    assert page["connection_help"] == brand_help
    done = world.mails()[-1][2]
    assert "RJ45" in done and "M-Bus" in done  # the "opened" mail, in the holder's language
    assert "RJ45" not in world.mails()[-2][2]  # the receipt does not need it yet
