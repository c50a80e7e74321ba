"""The whole flow against the real emulator fleet and a real SMTP server (aiosmtpd).

order → command to the emulated meter → read back + a push seen → completed → e-mail received;
the meter's HAN stream then carries readings. Close likewise. A meter that does not answer
the head-end (PUT /api/meters/{id}/fault) leads to retries with backoff, then escalation.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
from emulated_fleet import EmulatedFleet, readings_within
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import order_events, orders
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.headend import HttpHeadEnd
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.notify import SmtpMailer

pytestmark = pytest.mark.slow


def _state(world: World, order_id: int) -> str:
    with world.engine.connect() as conn:
        return conn.execute(select(orders.c.state).where(orders.c.id == order_id)).scalar_one()


async def _run_until(
    runner: JobRunner, world: World, order_id: int, states: set[str], timeout: float = 30.0
) -> str:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await runner.run_once()
        state = _state(world, order_id)
        if state in states:
            await runner.run_outbox()
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id} stuck in {_state(world, order_id)}")


async def test_open_and_close_against_the_emulator(
    world: World, fleet: EmulatedFleet, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    headend = HttpHeadEnd(fleet.control_url)
    runner = JobRunner(
        world.engine,
        headend,
        SmtpMailer(smtp_server.host, smtp_server.port),
        JobSettings(backoff_base_s=0.2, poll_s=0.2, push_wait_s=15),
    )
    stream = fleet.streams[world.meter_id]
    try:
        assert await readings_within(stream, 1.5) == []  # closed: the meter sends nothing

        order_id = submit_order(world.engine, world.holder, world.open_request())
        assert await _run_until(runner, world, order_id, {"completed"}) == "completed"
        with world.engine.connect() as conn:
            order = conn.execute(select(orders).where(orders.c.id == order_id)).one()
        assert order.push_seen, "completed only after the emulated meter pushed"
        port = httpx.get(f"{fleet.control_url}/api/meters/{world.meter_id}/port").json()
        assert port["port"] == "open"
        assert port["pushes_since_change"] >= 1

        readings = await readings_within(stream, 10.0, enough=2)
        assert readings, "the opened port streams HAN frames"
        assert {r.meter_id for r in readings} == {world.meter_id}
        done = await smtp_server.wait_for_async(
            lambda m: (
                f"bestilling {order_id}" in str(m["Subject"]) and "åpnet" in str(m["Subject"])
            ),
            timeout=10,
        )
        assert done["To"] == "ola@example.no"

        close_id = submit_order(world.engine, world.holder, OrderRequest(world.mpid, "close"))
        assert await _run_until(runner, world, close_id, {"completed"}) == "completed"
        port = httpx.get(f"{fleet.control_url}/api/meters/{world.meter_id}/port").json()
        assert port["port"] == "closed"
        await smtp_server.wait_for_async(
            lambda m: (
                f"bestilling {close_id}" in str(m["Subject"]) and "stengt" in str(m["Subject"])
            ),
            timeout=10,
        )
        assert await readings_within(stream, 2.5) == []
    finally:
        await headend.aclose()


async def test_unresponsive_meter_retries_then_escalates(
    world: World, fleet: EmulatedFleet, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=fleet.control_url) as control:
        answer = await control.put(
            f"/api/meters/{world.meter_id}/fault", json={"unresponsive": True}
        )
        assert answer.status_code == 200
    headend = HttpHeadEnd(fleet.control_url)
    runner = JobRunner(
        world.engine,
        headend,
        SmtpMailer(smtp_server.host, smtp_server.port),
        JobSettings(max_attempts=3, backoff_base_s=0.2, poll_s=0.2),
    )
    try:
        order_id = submit_order(world.engine, world.holder, world.open_request())
        assert await _run_until(runner, world, order_id, {"escalated"}) == "escalated"
        with world.engine.connect() as conn:
            order = conn.execute(select(orders).where(orders.c.id == order_id)).one()
            events = conn.execute(
                select(order_events)
                .where(order_events.c.order_id == order_id)
                .order_by(order_events.c.id)
            ).all()
        assert order.attempts == 3
        assert order.failure_cause == "meter_no_answer"
        retries = [e for e in events if e.event == "no_answer"]
        assert len(retries) == 2
        assert "503" in retries[0].note
        # backoff doubles: an attempt never comes before its delay (0.2 s, then 0.4 s) is over
        gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(events[1:])]
        assert gaps[0] >= 0.2
        assert gaps[1] >= 0.4
        mail = await smtp_server.wait_for_async(
            lambda m: f"Bestilling {order_id} tar lengre tid" in str(m["Subject"]), timeout=10
        )
        assert "Kundeservice" in mail.get_content()
    finally:
        await headend.aclose()
