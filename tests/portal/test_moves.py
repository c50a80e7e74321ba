"""Customer change (move): the port is really closed for the new customer, one holder at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from portal_world import World, oslo_today
from sqlalchemy import select, update

from hanport.portal.db.schema import customer_changes, metering_points, orders, parties
from hanport.portal.domain.model import Actor, Role
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.errors import Conflict, Refused
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.lifecycle import cancel_order
from hanport.portal.services.moves import register_customer_change

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)


async def _drain(runner: JobRunner, rounds: int = 10) -> None:
    for _ in range(rounds):
        await runner.run_orders()


def _party(world: World, email: str) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(parties.c.id).where(parties.c.email == email)).scalar_one()


def _change(world: World):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(select(customer_changes)).one()


def _system_orders(world: World) -> list[tuple[str, str]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(orders.c.action, orders.c.state)
            .where(orders.c.channel == "system")
            .order_by(orders.c.id)
        ).all()
    return [(r.action, r.state) for r in rows]


async def _open_then_move(world: World, runner: JobRunner) -> Actor:
    submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=oslo_today().isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
    )
    return Actor(_party(world, "nina@example.no"), Role.CUSTOMER, "Nina Ny")


async def test_new_customer_cannot_cancel_the_close_and_it_is_done_only_when_closed(
    world: World,
) -> None:
    headend = world.headend()
    runner = JobRunner(world.engine, headend, None, FAST)
    nina = await _open_then_move(world, runner)
    headend.unresponsive.add(world.meter_id)  # the meter is silent on the effective date
    await runner.run_customer_changes()
    await runner.run_orders()
    with world.engine.connect() as conn:
        close_id = conn.execute(
            select(orders.c.id).where(orders.c.channel == "system")
        ).scalar_one()
    assert _system_orders(world) == [("close", "retrying")]
    assert _change(world).port_closed_at is None  # placed is not closed

    with pytest.raises(Refused) as refused:
        cancel_order(world.engine, nina, close_id)
    assert refused.value.reason == "system_order"
    # nor can the new holder supersede it with an order of their own
    with pytest.raises(Conflict, match="change of customer"):
        submit_order(world.engine, nina, world.open_request())

    await _drain(runner)
    await runner.run_customer_changes()
    assert _system_orders(world) == [("close", "escalated")]  # customer service has it
    assert _change(world).port_closed_at is None
    await runner.run_customer_changes()
    assert len(_system_orders(world)) == 1  # waits for customer service, no new order each run

    headend.unresponsive.clear()
    from hanport.portal.services.lifecycle import override_order

    override_order(world.engine, world.staff, close_id, kind="retry", reason="meter is back")
    await _drain(runner)
    await runner.run_customer_changes()
    assert _system_orders(world) == [("close", "completed")]
    assert headend.ports[world.meter_id] == "closed"
    assert _change(world).port_closed_at is not None


async def test_close_after_move_goes_through_on_an_inactive_point(world: World) -> None:
    headend = world.headend()
    runner = JobRunner(world.engine, headend, None, FAST)
    await _open_then_move(world, runner)
    with world.engine.begin() as conn:
        # the point is made inactive at move-out; its open port must still be closed
        conn.execute(
            update(metering_points)
            .where(metering_points.c.id == world.mpid)
            .values(status="inactive")
        )
    await runner.run_customer_changes()
    await _drain(runner)
    await runner.run_customer_changes()
    assert _system_orders(world) == [("close", "completed")]
    assert headend.ports[world.meter_id] == "closed"
    assert _change(world).port_closed_at is not None
    # customers still cannot order on the inactive point
    nina = Actor(_party(world, "nina@example.no"), Role.CUSTOMER, "Nina Ny")
    with pytest.raises(Conflict, match="not active"):
        submit_order(world.engine, nina, OrderRequest(world.mpid, "close"))


def _open_contracts(world: World) -> list[int]:
    from hanport.portal.db.schema import contracts

    with world.engine.connect() as conn:
        return [
            r.party_id
            for r in conn.execute(
                select(contracts.c.party_id).where(
                    contracts.c.metering_point_id == world.mpid, contracts.c.valid_to.is_(None)
                )
            )
        ]


async def test_second_pending_change_is_refused_and_one_holder_remains(world: World) -> None:
    from hanport.portal.services.moves import apply_due_changes

    today = oslo_today().isoformat()
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=today,
        new_email="a@example.no",
        new_name="A",
    )
    with pytest.raises(Conflict, match="already registered"):
        register_customer_change(
            world.engine,
            world.staff,
            world.mpid,
            effective=today,
            new_email="b@example.no",
            new_name="B",
        )
    apply_due_changes(world.engine, oslo_today())
    assert _open_contracts(world) == [_party(world, "a@example.no")]
    # once carried out, the next change starts from the new holder; never an earlier date
    with pytest.raises(Conflict, match="before the previous"):
        register_customer_change(
            world.engine,
            world.staff,
            world.mpid,
            effective="2020-01-01",
            new_email="c@example.no",
            new_name="C",
        )


async def test_a_change_before_a_contract_typed_in_ahead_fits_between(world: World) -> None:
    from hanport.portal.db.schema import contracts
    from hanport.portal.services.moves import apply_due_changes

    today = oslo_today()
    later = today + timedelta(days=30)
    with world.engine.begin() as conn:
        # Ola leaves in a month, and the next customer is typed in ahead of time
        conn.execute(
            update(contracts)
            .where(contracts.c.metering_point_id == world.mpid)
            .values(valid_to=later)
        )
        conn.execute(
            contracts.insert().values(
                party_id=world.stranger.party_id, metering_point_id=world.mpid, valid_from=later
            )
        )
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=today.isoformat(),
        new_email="a@example.no",
        new_name="A",
    )
    apply_due_changes(world.engine, today)
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(contracts.c.party_id, contracts.c.valid_from, contracts.c.valid_to)
            .where(contracts.c.metering_point_id == world.mpid)
            .order_by(contracts.c.valid_from, contracts.c.id)
        ).all()
    # the move ends Ola's contract today; the new customer holds it until the next begins
    assert [tuple(r) for r in rows][-3:] == [
        (world.holder.party_id, rows[-3].valid_from, today),
        (_party(world, "a@example.no"), today, later),
        (world.stranger.party_id, later, None),
    ]


@pytest.mark.both_databases
async def test_concurrent_registrations_leave_one_change(world: World) -> None:
    import asyncio

    today = oslo_today().isoformat()

    def register(n: int) -> str:
        try:
            register_customer_change(
                world.engine,
                world.staff,
                world.mpid,
                effective=today,
                new_email=f"n{n}@example.no",
                new_name=f"N{n}",
            )
        except Conflict:
            return "conflict"
        return "ok"

    results = await asyncio.gather(*(asyncio.to_thread(register, n) for n in range(6)))
    assert sorted(results) == ["conflict"] * 5 + ["ok"]
    with world.engine.connect() as conn:
        assert len(conn.execute(select(customer_changes)).all()) == 1


@pytest.mark.both_databases
def test_the_database_refuses_a_second_open_contract(world: World) -> None:
    from sqlalchemy.exc import IntegrityError

    from hanport.portal.db.schema import contracts

    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(
            contracts.insert().values(
                party_id=world.stranger.party_id,
                metering_point_id=world.mpid,
                valid_from=oslo_today(),
            )
        )
