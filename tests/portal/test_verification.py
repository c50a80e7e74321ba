"""Verification is visible: read-back makes an order VERIFIED, a push (or the end of the wait)
completes it, the timeline says which, and a push seen later is recorded without reopening."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from portal_world import World, code_from
from sqlalchemy import select

from hanport.portal.db.schema import audit_events, order_events, orders, port_states, push_watches
from hanport.portal.domain.notes import parsed
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.web.app import PortalConfig, create_app
from services.clocks import MovableClock

#: waits long enough for a push that a test sees the order in VERIFIED
PATIENT = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=3600.0)


def _order(world: World, order_id: int):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.id == order_id)).one()


def _watched(world: World, order_id: int) -> bool:
    """The order has a push watch: the runner still looks for its first push."""
    with world.engine.connect() as conn:
        found = conn.execute(
            select(push_watches.c.order_id).where(push_watches.c.order_id == order_id)
        ).first()
    return found is not None


def _port(world: World):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(
            select(port_states).where(port_states.c.metering_point_id == world.mpid)
        ).one()


def _events(world: World, order_id: int) -> list[tuple[str, str]]:
    with world.engine.connect() as conn:
        return [
            (r.event, r.to_state)
            for r in conn.execute(
                select(order_events)
                .where(order_events.c.order_id == order_id)
                .order_by(order_events.c.id)
            )
        ]


def _audit_actions(world: World, order_id: int) -> list[str]:
    with world.engine.connect() as conn:
        return [
            r.action
            for r in conn.execute(
                select(audit_events.c.action)
                .where(
                    audit_events.c.object_type == "order",
                    audit_events.c.object_id == str(order_id),
                )
                .order_by(audit_events.c.seq)
            )
        ]


async def _drain(runner: JobRunner, rounds: int = 6) -> None:
    for _ in range(rounds):
        await runner.run_orders()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _sign_in(client: TestClient, world: World, email: str) -> None:
    page = client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    client.post("/signin", data={"csrf": csrf.group(1), "email": email})
    code = code_from(world.mails(email)[-1][2])
    answer = client.post("/signin/code", data={"csrf": csrf.group(1), "email": email, "code": code})
    assert answer.status_code == 200, answer.text


async def test_an_open_is_verified_and_visible_while_it_waits_for_a_push(
    world: World, client: TestClient
) -> None:
    headend = world.headend()
    headend.pushes_after_change = 0  # the port reads open, the meter has not pushed yet
    runner = JobRunner(world.engine, headend, None, PATIENT)
    order_id = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)

    order = _order(world, order_id)
    assert order.state == "verified"
    assert order.verified_at is not None and order.completed_at is None
    assert _events(world, order_id) == [
        ("submitted", "validated"),
        ("command_ok", "command_sent"),
        ("readback_ok", "verified"),
    ]
    port = _port(world)
    assert (port.state, port.push_seen) == ("open", False)
    assert port.verified_at is not None

    token = create_token(world.engine, world.holder.party_id or 0, "test")
    answer = client.get(
        f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert answer["state"] == "verified"
    assert [e["event"] for e in answer["timeline"]][-1] == "readback_ok"

    _sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}").text
    assert "bekreftet ved tilbakelesing" in page
    assert "ingen data sett fra måleren ennå" in page
    assert "Bekreftet fra måleren" in client.get(f"/orders/{order_id}").text

    headend.pushes_after_change = 1  # the first push arrives
    await _drain(runner)
    order = _order(world, order_id)
    assert (order.state, order.push_seen) == ("completed", True)
    assert [e for e, _ in _events(world, order_id)][-1] == "confirm"
    assert _port(world).push_seen
    page = client.get(f"/points/{world.mpid}").text
    assert "data sett fra måleren (push)" in page
    assert "bekreftet ved tilbakelesing" in page
    done = world.mails("ola@example.no")[-1]
    assert done[1] == f"HAN-porten er åpnet (bestilling {order_id})"
    assert "sett at den sender data" in done[2]


async def test_no_push_in_the_window_completes_plainly_and_a_later_push_is_recorded(
    world: World, client: TestClient
) -> None:
    headend = world.headend()
    headend.pushes_after_change = 0
    clock = MovableClock()
    runner = JobRunner(
        world.engine,
        headend,
        None,
        replace(PATIENT, push_wait_s=30.0, push_recheck_s=0.0),
        clock=clock,
    )
    order_id = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    assert _order(world, order_id).state == "verified"
    clock.advance(31)  # the wait for the first push runs out
    await _drain(runner)

    order = _order(world, order_id)
    assert (order.state, order.push_seen) == ("completed", False)
    assert order.next_attempt_at is None  # a completed order is never due …
    assert _watched(world, order_id)  # … its push watch is
    events = _events(world, order_id)
    assert events[-2:] == [("readback_ok", "verified"), ("confirm_without_push", "completed")]
    with world.engine.connect() as conn:
        note = conn.execute(
            select(order_events.c.note).where(
                order_events.c.order_id == order_id,
                order_events.c.event == "confirm_without_push",
            )
        ).scalar_one()
    assert parsed(note) == {"code": "no_push", "wait_s": 30.0}  # worded by each page
    done = world.mails("ola@example.no")[-1]
    assert "Vi har ikke sett data fra måleren ennå" in done[2]

    _sign_in(client, world, "ola@example.no")
    order_page = client.get(f"/orders/{order_id}").text
    assert "bekreftet åpen ved tilbakelesing, men vi har ikke sett data" in order_page

    headend.pushes_after_change = 2  # the reader was plugged in later
    await _drain(runner)
    order = _order(world, order_id)
    assert (order.state, order.push_seen, order.next_attempt_at) == ("completed", True, None)
    assert not _watched(world, order_id)
    assert _events(world, order_id) == events  # not reopened: no new transition
    assert _port(world).push_seen
    assert "order.push_seen" in _audit_actions(world, order_id)
    assert "data sett fra måleren (push)" in client.get(f"/points/{world.mpid}").text


async def test_the_push_watch_ends_after_its_window_or_when_a_newer_order_rules(
    world: World,
) -> None:
    headend = world.headend()
    headend.pushes_after_change = 0
    quick = replace(PATIENT, push_wait_s=0.0, push_recheck_s=0.0, push_watch_s=0.0)
    runner = JobRunner(world.engine, headend, None, quick)
    first = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    order = _order(world, first)
    assert (order.state, order.push_seen, order.next_attempt_at) == ("completed", False, None)
    assert "order.push_watch_ended" in _audit_actions(world, first)
    assert not _watched(world, first)

    # a watched open whose port is then closed by a newer order stops being watched
    runner = JobRunner(world.engine, headend, None, replace(quick, push_watch_s=3600.0))
    close_id = submit_order(world.engine, world.holder, OrderRequest(world.mpid, "close"))
    await _drain(runner)
    second = submit_order(world.engine, world.holder, world.open_request())
    await runner.run_orders()  # command
    await runner.run_orders()  # read-back, completed without a push, watched
    assert _watched(world, second)
    third = submit_order(world.engine, world.holder, OrderRequest(world.mpid, "close"))
    await _drain(runner)
    assert _order(world, third).state == "completed"
    headend.pushes_after_change = 1
    await _drain(runner)
    stale = _order(world, second)
    assert (stale.push_seen, stale.next_attempt_at) == (False, None)
    assert not _watched(world, second)
    assert (_port(world).state, _port(world).push_seen) == ("closed", False)
    assert _order(world, close_id).state == "completed"


async def test_a_close_is_verified_then_completed_at_once(world: World) -> None:
    headend = world.headend()
    runner = JobRunner(world.engine, headend, None, PATIENT)
    submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    close_id = submit_order(world.engine, world.holder, OrderRequest(world.mpid, "close"))
    await _drain(runner)
    assert _events(world, close_id) == [
        ("submitted", "validated"),
        ("command_ok", "command_sent"),
        ("readback_ok", "verified"),
        ("confirm", "completed"),
    ]
    port = _port(world)
    assert (port.state, port.last_order_id) == ("closed", close_id)
    assert port.verified_at is not None


@pytest.mark.both_databases
async def test_orders_to_carry_out_are_claimed_before_push_watch_reads(world: World) -> None:
    """After a backlog, overdue watch reads of completed opens must not hold up new commands
    (found in review)."""
    from datetime import timedelta

    from sqlalchemy import update

    from hanport.portal.services.tx import utcnow

    headend = world.headend()
    headend.pushes_after_change = 0
    runner = JobRunner(
        world.engine, headend, None, replace(PATIENT, push_wait_s=0.0, push_recheck_s=0.0)
    )
    watched = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    assert _order(world, watched).state == "completed"
    with world.engine.begin() as conn:  # its watch read is long overdue
        conn.execute(
            update(push_watches)
            .where(push_watches.c.order_id == watched)
            .values(next_look_at=utcnow() - timedelta(hours=1))
        )
    from hanport.portal.db.schema import parties
    from hanport.portal.domain.model import Actor, Role
    from hanport.portal.seed import DEMO_METERS

    with world.engine.connect() as conn:
        emma = conn.execute(
            select(parties.c.id).where(parties.c.email == "emma@example.com")
        ).scalar_one()
    fresh = submit_order(
        world.engine,
        Actor(emma, Role.CUSTOMER, "Emma"),
        world.open_request(metering_point_id=DEMO_METERS[3].metering_point_id),
    )
    assert [order.id for order in runner._claim_due(utcnow(), 1)] == [fresh]


async def test_an_order_while_an_open_waits_for_its_push_takes_over(world: World) -> None:
    """A customer who closes right after opening is not told to try again in a minute: the
    verified open is completed (its read-back was the verification) and the close goes on."""
    from hanport.portal.services.errors import Conflict

    headend = world.headend()
    headend.pushes_after_change = 0
    runner = JobRunner(world.engine, headend, None, PATIENT)
    opened = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    assert _order(world, opened).state == "verified"

    with pytest.raises(Conflict, match="already open"):  # nothing to do twice
        submit_order(world.engine, world.holder, world.open_request())
    closing = submit_order(world.engine, world.holder, world.open_request(action="close"))

    assert _order(world, opened).state == "completed"
    assert _events(world, opened)[-1] == ("confirm_without_push", "completed")
    assert _order(world, closing).state == "validated"
    assert _port(world).state == "closing"
    subjects = [subject for _, subject, _ in world.mails("ola@example.no")]
    assert f"HAN-porten er åpnet (bestilling {opened})" in subjects
    await _drain(runner)
    assert _order(world, closing).state == "completed"
    assert _port(world).state == "closed"
