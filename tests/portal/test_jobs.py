"""Order execution against the in-memory head-end twin: retries, backoff, escalation, override,
read-back mismatch, meters that cannot run HAN, cancellation, customer change, e-mail outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from portal_world import World, oslo_today
from sqlalchemy import select, update

from hanport.portal.db.schema import contracts, order_events, orders, outbox, port_states, proxies
from hanport.portal.domain.model import Actor, Role
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.seed import DEMO_METERS
from hanport.portal.services.errors import Conflict, InvalidInput
from hanport.portal.services.headend import InMemoryHeadEnd
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.lifecycle import cancel_order, override_order
from hanport.portal.services.moves import register_customer_change

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)


def _order(world: World, order_id: int):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.id == order_id)).one()


def _events(world: World, order_id: int) -> list[str]:
    with world.engine.connect() as conn:
        return [
            r.event
            for r in conn.execute(
                select(order_events)
                .where(order_events.c.order_id == order_id)
                .order_by(order_events.c.id)
            )
        ]


def _port(world: World, mpid: str | None = None) -> str:
    with world.engine.connect() as conn:
        return conn.execute(
            select(port_states.c.state).where(
                port_states.c.metering_point_id == (mpid or world.mpid)
            )
        ).scalar_one()


async def _drain(runner: JobRunner, rounds: int = 10) -> None:
    for _ in range(rounds):
        await runner.run_orders()


@pytest.mark.both_databases
async def test_open_then_close(world: World) -> None:
    headend = world.headend()
    runner = JobRunner(world.engine, headend, None, FAST)
    order_id = submit_order(world.engine, world.holder, world.open_request())
    assert _port(world) == "opening"
    await _drain(runner)
    order = _order(world, order_id)
    assert order.state == "completed"
    assert order.push_seen
    assert headend.ports[world.meter_id] == "open"
    assert _port(world) == "open"
    assert _events(world, order_id) == ["submitted", "command_ok", "readback_ok", "confirm"]
    subjects = [subject for _, subject, _ in world.mails("ola@example.no")]
    assert subjects[-2:] == [
        f"Vi har mottatt bestillingen din (nr. {order_id})",
        f"HAN-porten er åpnet (bestilling {order_id})",
    ]

    close_id = submit_order(world.engine, world.holder, OrderRequest(world.mpid, "close"))
    await _drain(runner)
    assert _order(world, close_id).state == "completed"
    assert headend.ports[world.meter_id] == "closed"
    assert _port(world) == "closed"


async def test_unresponsive_meter_retries_then_escalates_then_override(world: World) -> None:
    headend = world.headend()
    headend.unresponsive.add(world.meter_id)
    runner = JobRunner(
        world.engine, headend, None, replace(FAST, staff_email="kundeservice@nettselskap.example")
    )
    order_id = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    order = _order(world, order_id)
    assert order.state == "escalated"
    staff_mails = world.mails("kundeservice@nettselskap.example")
    assert [s for _, s, _ in staff_mails] == [
        f"Sak {order_id} trenger kundeservice (meter_no_answer) / "
        f"Case {order_id} needs customer service (meter_no_answer)"
    ]
    assert "er eskalert" in staff_mails[0][2] and "is escalated" in staff_mails[0][2]
    assert order.attempts == 3
    assert order.failure_cause == "meter_no_answer"
    assert [c for c in headend.calls if c[0] == "set"] == [("set", world.meter_id)] * 3
    assert _events(world, order_id) == ["submitted", "no_answer", "no_answer", "give_up"]
    assert any("tar lengre tid" in s for _, s, _ in world.mails("ola@example.no"))

    with pytest.raises(InvalidInput):
        override_order(world.engine, world.staff, order_id, kind="retry", reason="")
    headend.unresponsive.clear()
    override_order(world.engine, world.staff, order_id, kind="retry", reason="meter rebooted")
    await _drain(runner)
    assert _order(world, order_id).state == "completed"


async def test_backoff_grows_and_waits(world: World) -> None:
    headend = world.headend()
    headend.unresponsive.add(world.meter_id)
    runner = JobRunner(
        world.engine, headend, None, JobSettings(max_attempts=5, backoff_base_s=60, poll_s=0)
    )
    assert [runner.backoff(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    order_id = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner, 5)
    order = _order(world, order_id)
    assert order.state == "retrying"
    assert order.attempts == 1  # the next attempt is a minute away, not hammered
    assert order.next_attempt_at > order.updated_at + timedelta(seconds=59)


async def test_readback_mismatch_sends_again(world: World) -> None:
    class ForgetfulHeadEnd(InMemoryHeadEnd):
        forgets = 1

        async def set_port(self, meter_id, port):  # type: ignore[no-untyped-def]
            readback = await super().set_port(meter_id, port)
            if self.forgets:
                self.forgets -= 1
                self.ports[meter_id] = "closed"  # the command was lost on the way
            return readback

    headend = ForgetfulHeadEnd(ports={m.meter_id: "closed" for m in DEMO_METERS})
    runner = JobRunner(world.engine, headend, None, FAST)
    order_id = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    assert _order(world, order_id).state == "completed"
    assert "readback_mismatch" in _events(world, order_id)


async def test_meter_without_han_needs_field_work(world: World) -> None:
    no_han = DEMO_METERS[5]
    ingrid = Actor(_party(world, "ingrid@example.no"), Role.CUSTOMER, "Ingrid")
    order_id = submit_order(
        world.engine, ingrid, world.open_request(metering_point_id=no_han.metering_point_id)
    )
    order = _order(world, order_id)
    assert order.state == "needs_field_work"
    assert order.failure_cause == "meter_not_han_capable"


def _party(world: World, email: str) -> int:
    from hanport.portal.db.schema import parties

    with world.engine.connect() as conn:
        return conn.execute(select(parties.c.id).where(parties.c.email == email)).scalar_one()


async def test_cancel_before_command_and_not_after(world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    cancel_order(world.engine, world.holder, order_id)
    assert _order(world, order_id).state == "cancelled"
    assert _port(world) == "closed"
    runner = JobRunner(world.engine, world.headend(), None, FAST)
    second = submit_order(world.engine, world.holder, world.open_request())
    await runner.run_orders()  # command sent
    assert _order(world, second).state == "command_sent"
    with pytest.raises(Conflict):
        cancel_order(world.engine, world.holder, second)


async def test_bad_input_stores_nothing(world: World) -> None:
    with world.engine.connect() as conn:
        before = conn.execute(select(orders.c.id)).all()
    with pytest.raises(InvalidInput) as caught:
        submit_order(
            world.engine,
            world.holder,
            world.open_request(declaration="in the garden", module_option="", terms_accepted=False),
        )
    assert set(caught.value.fields) == {"declaration", "module_option", "terms_accepted"}
    with pytest.raises(InvalidInput, match="check digit"):
        submit_order(
            world.engine, world.holder, world.open_request(metering_point_id="707057500000000019")
        )
    with pytest.raises(Conflict, match="terms have changed"):
        submit_order(world.engine, world.holder, world.open_request(terms_version_id=999))
    with world.engine.connect() as conn:
        assert conn.execute(select(orders.c.id)).all() == before


async def test_new_terms_must_be_accepted_again(world: World) -> None:
    from hanport.portal.services.terms import publish_terms

    new_id = publish_terms(
        world.engine,
        world.staff,
        version="2.0",
        text_nb="Nye vilkår",
        text_en="New terms",
        change_summary="Ny tekst / New text",
    ).id
    with pytest.raises(Conflict, match=r"version 2\.0"):
        submit_order(world.engine, world.holder, world.open_request())
    order_id = submit_order(world.engine, world.holder, world.open_request(terms_version_id=new_id))
    assert _order(world, order_id).terms_version_id == new_id


async def test_customer_change_closes_port_ends_proxies_notifies_both(world: World) -> None:
    runner = JobRunner(world.engine, world.headend(), None, FAST)
    submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    assert _port(world) == "open"
    with pytest.raises(InvalidInput):
        register_customer_change(world.engine, world.staff, world.mpid, effective="tomorrow")
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=oslo_today().isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
    )
    await runner.run_customer_changes()
    await _drain(runner)
    assert _port(world) == "closed"
    with world.engine.connect() as conn:
        live = conn.execute(
            select(proxies).where(
                proxies.c.metering_point_id == world.mpid, proxies.c.revoked_at.is_(None)
            )
        ).all()
        holders = conn.execute(
            select(contracts.c.party_id).where(
                contracts.c.metering_point_id == world.mpid, contracts.c.valid_to.is_(None)
            )
        ).all()
        system_orders = conn.execute(select(orders).where(orders.c.channel == "system")).all()
    assert live == []
    assert [h.party_id for h in holders] == [_party(world, "nina@example.no")]
    assert [(o.action, o.state) for o in system_orders] == [("close", "completed")]
    assert any("avsluttet" in s for _, s, _ in world.mails("ola@example.no"))
    assert any("Velkommen" in s for _, s, _ in world.mails("nina@example.no"))
    assert any("avsluttet" in s for _, s, _ in world.mails("agent@provider.example"))
    # the old holder and the old proxy can no longer order
    from hanport.portal.services.errors import Refused

    for actor in (world.holder, world.act_proxy):
        with pytest.raises(Refused):
            submit_order(world.engine, actor, world.open_request())


async def test_outbox_sends_through_real_smtp(sqlite_world: World, smtp_server) -> None:  # type: ignore[no-untyped-def]
    from hanport.portal.services.notify import SmtpMailer

    world = sqlite_world
    submit_order(world.engine, world.holder, world.open_request())
    runner = JobRunner(
        world.engine, world.headend(), SmtpMailer(smtp_server.host, smtp_server.port), FAST
    )
    sent = await runner.run_outbox()
    assert sent == len(world.mails())
    message = await smtp_server.wait_for_async(
        lambda m: "mottatt bestillingen" in str(m["Subject"]), timeout=5
    )
    assert message["To"] == "ola@example.no"
    assert world.mpid in message.get_content()


async def test_outbox_keeps_mail_when_smtp_is_down(sqlite_world: World) -> None:
    from hanport.portal.services.notify import SmtpMailer
    from services.ports import free_port

    world = sqlite_world
    submit_order(world.engine, world.holder, world.open_request())
    runner = JobRunner(
        world.engine, world.headend(), SmtpMailer("127.0.0.1", free_port(), timeout=2), FAST
    )
    assert await runner.run_outbox() == 0
    with world.engine.connect() as conn:
        rows = conn.execute(select(outbox)).all()
    assert rows
    assert all(r.sent_at is None and r.attempts == 1 and r.last_error for r in rows)


async def test_sla_report_figures(world: World) -> None:
    from datetime import UTC, datetime

    from hanport.portal.services.queries import sla_report

    runner = JobRunner(world.engine, world.headend(), None, FAST)
    opened = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    stuck_headend = world.headend()
    kari_point = DEMO_METERS[2]
    kari = Actor(_party(world, "kari@example.no"), Role.CUSTOMER, "Kari")
    stuck_headend.unresponsive.add(kari_point.meter_id)
    stuck = submit_order(
        world.engine, kari, world.open_request(metering_point_id=kari_point.metering_point_id)
    )
    await _drain(JobRunner(world.engine, stuck_headend, None, FAST))
    done = _order(world, opened)
    with world.engine.begin() as conn:
        # the first order took 90 minutes, the stuck one is past its three working days
        conn.execute(
            update(orders)
            .where(orders.c.id == opened)
            .values(completed_at=done.created_at + timedelta(minutes=90))
        )
        conn.execute(
            update(orders)
            .where(orders.c.id == stuck)
            .values(sla_due_at=datetime.now(UTC) - timedelta(hours=1))
        )
        report = sla_report(conn, datetime.now(UTC))
    assert report.completed == 1
    assert report.median_minutes == pytest.approx(90)
    assert report.p95_minutes == pytest.approx(90)
    assert report.within_sla_share == 1.0
    assert report.open_orders == 1
    assert report.breached_open == 1
    assert report.failure_causes == [("meter_no_answer", 1)]


async def test_module_shipment_is_tracked_but_never_blocks(world: World) -> None:
    from hanport.portal.db.schema import shipments

    runner = JobRunner(world.engine, world.headend(), None, FAST)
    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    await _drain(runner)
    assert _order(world, order_id).state == "completed"  # opened before the module arrives
    with world.engine.connect() as conn:
        shipment = conn.execute(select(shipments).where(shipments.c.order_id == order_id)).one()
    assert (shipment.method, shipment.state) == ("post", "requested")


async def test_a_slow_meter_does_not_hold_up_the_others(world: World) -> None:
    import asyncio

    slow_meter = world.meter_id
    release = asyncio.Event()

    class SlowHeadEnd(InMemoryHeadEnd):
        async def set_port(self, meter_id, port):  # type: ignore[no-untyped-def]
            if meter_id == slow_meter:
                await release.wait()  # this meter answers only when the test says so
            return await super().set_port(meter_id, port)

    headend = SlowHeadEnd(ports={m.meter_id: "closed" for m in DEMO_METERS})
    runner = JobRunner(world.engine, headend, None, FAST)
    kari_point = DEMO_METERS[2]
    kari = Actor(_party(world, "kari@example.no"), Role.CUSTOMER, "Kari")
    slow = submit_order(world.engine, world.holder, world.open_request())
    fast = submit_order(
        world.engine, kari, world.open_request(metering_point_id=kari_point.metering_point_id)
    )
    step = asyncio.create_task(runner.run_orders())
    for _ in range(200):
        if _order(world, fast).state == "command_sent":
            break
        await asyncio.sleep(0.05)
    assert _order(world, fast).state == "command_sent"  # while the slow meter still thinks
    assert _order(world, slow).state == "validated"
    release.set()
    await step
    assert _order(world, slow).state == "command_sent"


async def test_readback_mismatch_backs_off_then_escalates(world: World) -> None:
    from hanport.portal.services.headend import PortReadback

    class StuckHeadEnd(InMemoryHeadEnd):
        """Accepts every command, but the port keeps reading back closed."""

        async def read_port(self, meter_id):  # type: ignore[no-untyped-def]
            return PortReadback(meter_id, "closed", None, 0)

    headend = StuckHeadEnd(ports={m.meter_id: "closed" for m in DEMO_METERS})
    runner = JobRunner(world.engine, headend, None, FAST)
    order_id = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner, 20)
    order = _order(world, order_id)
    assert order.state == "escalated"
    assert order.attempts == 3
    assert order.failure_cause == "readback_mismatch"
    # three commands, each read back once, then customer service: no endless resending
    assert [c[0] for c in headend.calls] == ["set"] * 3
    assert _events(world, order_id)[-2:] == ["readback_mismatch", "give_up"]

    slow = JobRunner(world.engine, headend, None, replace(FAST, backoff_base_s=60))
    second = submit_order(
        world.engine,
        Actor(_party(world, "kari@example.no"), Role.CUSTOMER, "Kari"),
        world.open_request(metering_point_id=DEMO_METERS[2].metering_point_id),
    )
    await _drain(slow, 5)
    waiting = _order(world, second)
    assert (waiting.state, waiting.attempts) == ("retrying", 1)
    assert waiting.next_attempt_at > waiting.updated_at + timedelta(seconds=59)


async def test_holder_hears_of_a_proxys_order(world: World) -> None:
    runner = JobRunner(world.engine, world.headend(), None, FAST)
    order_id = submit_order(world.engine, world.act_proxy, world.open_request())
    await _drain(runner)
    assert _order(world, order_id).state == "completed"
    for person in ("agent@provider.example", "ola@example.no"):
        subjects = [s for _, s, _ in world.mails(person)]
        assert f"Vi har mottatt bestillingen din (nr. {order_id})" in subjects, person
        assert f"HAN-porten er åpnet (bestilling {order_id})" in subjects, person


async def test_resubmitting_does_not_reset_an_escalated_case(world: World) -> None:
    headend = world.headend()
    headend.unresponsive.add(world.meter_id)
    runner = JobRunner(world.engine, headend, None, FAST)
    first = submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    assert _order(world, first).state == "escalated"
    # the same order again lands on the case; another open is refused, the case stays put
    assert submit_order(world.engine, world.holder, world.open_request()) == first
    with pytest.raises(Conflict, match="customer service"):
        submit_order(world.engine, world.holder, world.open_request(declaration="locked_room"))
    assert _order(world, first).state == "escalated"  # still in customer service's queue


async def test_a_replacing_order_keeps_the_first_deadline(world: World) -> None:
    from datetime import UTC, datetime

    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    first = submit_order(world.engine, world.holder, world.open_request(), now=monday)
    second = submit_order(
        world.engine, world.holder, world.open_request(), now=monday + timedelta(days=2)
    )
    assert _order(world, first).state == "superseded"
    assert _order(world, second).sla_due_at == _order(world, first).sla_due_at


async def test_override_cannot_open_a_meter_without_han(world: World) -> None:
    no_han = DEMO_METERS[5]
    ingrid = Actor(_party(world, "ingrid@example.no"), Role.CUSTOMER, "Ingrid")
    order_id = submit_order(
        world.engine, ingrid, world.open_request(metering_point_id=no_han.metering_point_id)
    )
    with pytest.raises(Conflict, match="cannot run HAN"):
        override_order(world.engine, world.staff, order_id, kind="complete", reason="kunden ba om")
    assert _order(world, order_id).state == "needs_field_work"
    assert _port(world, no_han.metering_point_id) != "open"


async def test_manual_completion_is_not_shown_as_verified(world: World) -> None:
    headend = world.headend()
    runner = JobRunner(world.engine, headend, None, FAST)
    submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)  # opened and verified
    headend.unresponsive.add(world.meter_id)
    close_id = submit_order(world.engine, world.holder, OrderRequest(world.mpid, "close"))
    await _drain(runner)
    assert _order(world, close_id).state == "escalated"
    override_order(world.engine, world.staff, close_id, kind="complete", reason="closed on site")
    with world.engine.connect() as conn:
        port = conn.execute(
            select(port_states).where(port_states.c.metering_point_id == world.mpid)
        ).one()
    assert (port.state, port.verified_at) == ("closed", None)


async def test_a_new_agent_gets_the_principals_language(world: World) -> None:
    from hanport.portal.db.schema import parties
    from hanport.portal.services.proxies import invite_proxy

    with world.engine.begin() as conn:
        conn.execute(update(parties).where(parties.c.id == world.holder.party_id).values(lang="en"))
    invite_proxy(
        world.engine,
        world.holder,
        world.mpid,
        agent_email="helper@example.com",
        agent_name="Helper",
        scope="view",
        valid_to=(oslo_today() + timedelta(days=30)).isoformat(),
    )
    assert _party_lang(world, "helper@example.com") == "en"
    assert any("power of attorney" in s.lower() for _, s, _ in world.mails("helper@example.com"))


def _party_lang(world: World, email: str) -> str:
    from hanport.portal.db.schema import parties

    with world.engine.connect() as conn:
        return str(
            conn.execute(select(parties.c.lang).where(parties.c.email == email)).scalar_one()
        )


async def test_a_backlog_larger_than_a_batch_is_worked_off_in_one_run(world: World) -> None:
    from hanport.portal.services.notify import ConsoleMailer

    # one order (and one e-mail) per batch: the runner must go on while batches come back full
    one_at_a_time = replace(FAST, batch=1, poll_s=60.0)
    runner = JobRunner(world.engine, world.headend(), ConsoleMailer(), one_at_a_time)
    kari = Actor(_party(world, "kari@example.no"), Role.CUSTOMER, "Kari")
    first = submit_order(world.engine, world.holder, world.open_request())
    second = submit_order(
        world.engine, kari, world.open_request(metering_point_id=DEMO_METERS[2].metering_point_id)
    )
    assert await runner.run_orders() == 2
    assert {_order(world, first).state, _order(world, second).state} == {"command_sent"}
    receipts = len(world.mails())
    assert receipts >= 2
    assert await runner.run_outbox() == receipts


def _lock_waiters(world: World) -> int:
    from sqlalchemy import text

    with world.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar())


@pytest.mark.both_databases
async def test_an_order_placed_while_the_runner_moves_the_last_one_is_decided_after_it(
    world: World,
) -> None:
    import asyncio
    import threading

    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer in at a time anyway; the point's row lock is PG's")
    inside, release = threading.Event(), threading.Event()

    class HeldRunner(JobRunner):
        """Stops inside its transaction after the command, until the test lets it go on."""

        def _log_command(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            inside.set()
            release.wait(10)
            super()._log_command(*args, **kwargs)

    runner = HeldRunner(world.engine, world.headend(), None, replace(FAST, poll_s=60.0))
    opened = submit_order(world.engine, world.holder, world.open_request())
    moving = asyncio.create_task(runner.run_orders())
    assert await asyncio.to_thread(inside.wait, 10)
    close = asyncio.create_task(
        asyncio.to_thread(
            submit_order, world.engine, world.holder, OrderRequest(world.mpid, "close")
        )
    )
    try:
        for _ in range(200):  # intake waits for the metering point's lock the runner holds
            if _lock_waiters(world) or close.done():
                break
            await asyncio.sleep(0.05)
        assert _lock_waiters(world) == 1
    finally:
        release.set()
        assert await moving == 1
    # decided after the runner's transaction: the open is with the head-end now, so the close
    # is refused plainly instead of failing on an order changed under it
    with pytest.raises(Conflict) as refused:
        await close
    assert refused.value.code == "order_in_progress"
    assert _order(world, opened).state == "command_sent"
