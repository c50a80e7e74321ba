"""Orders stored in batches (group commit): each order is judged on its own, as if alone."""

from __future__ import annotations

import asyncio
import threading

import pytest
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import audit_events, orders
from hanport.portal.domain.model import Actor, Role
from hanport.portal.seed import DEMO_METERS
from hanport.portal.services.audit import verify_chain
from hanport.portal.services.errors import Conflict, InvalidInput, Refused
from hanport.portal.services.orders import Submission, submit_orders
from hanport.portal.web.intake import Batcher


def _people(world: World) -> dict[str, Actor]:
    from hanport.portal.db.schema import parties

    with world.engine.connect() as conn:
        rows = conn.execute(select(parties.c.id, parties.c.email, parties.c.display_name)).all()
    return {r.email: Actor(r.id, Role.CUSTOMER, r.display_name) for r in rows}


def test_one_batch_answers_every_order_on_its_own(world: World) -> None:
    people = _people(world)
    emma, per = people["emma@example.com"], people["per@example.no"]
    batch = [
        Submission(world.holder, world.open_request()),  # accepted
        Submission(world.stranger, world.open_request()),  # refused: not hers
        Submission(emma, world.open_request(metering_point_id=DEMO_METERS[3].metering_point_id)),
        Submission(per, world.open_request(metering_point_id="7070575")),  # bad id
        Submission(
            per,
            world.open_request(
                metering_point_id=DEMO_METERS[4].metering_point_id, terms_version_id=999
            ),
        ),  # stale terms
        Submission(world.act_proxy, world.open_request(action="close"), "api"),  # same point
    ]
    results = submit_orders(world.engine, batch)
    assert isinstance(results[0], int)
    assert isinstance(results[1], Refused)
    assert isinstance(results[2], int)
    assert isinstance(results[3], InvalidInput) and "metering_point_id" in results[3].fields
    assert isinstance(results[4], Conflict) and "terms have changed" in results[4].en
    # taken after the holder's open, as if it came a moment later: it supersedes that order
    assert isinstance(results[5], int)
    with world.engine.connect() as conn:
        states = {r.id: r.state for r in conn.execute(select(orders.c.id, orders.c.state))}
        actions = [
            row.action
            for row in conn.execute(select(audit_events.c.action).order_by(audit_events.c.seq))
        ]
    assert states == {results[0]: "superseded", results[2]: "validated", results[5]: "validated"}
    assert "order.submit.refused" in actions  # the stranger's attempt is on record
    assert verify_chain(world.engine).ok
    # the holder hears that the agent's close replaced the open
    subjects = [subject for _, subject, _ in world.mails("ola@example.no")]
    assert any(f"replaced by order {results[5]}" in s or str(results[5]) in s for s in subjects)


def test_an_order_records_the_terms_text_and_language_it_accepted(world: World) -> None:
    from hanport.portal.db.schema import terms_versions

    [order_id] = submit_orders(
        world.engine, [Submission(world.holder, world.open_request(terms_lang="en"))]
    )
    with world.engine.connect() as conn:
        order = conn.execute(select(orders).where(orders.c.id == order_id)).one()
        digest = conn.execute(
            select(terms_versions.c.sha256).where(terms_versions.c.id == world.terms_id)
        ).scalar_one()
    assert (order.terms_version_id, order.terms_sha256, order.terms_lang) == (
        world.terms_id,
        digest,
        "en",
    )
    assert order.terms_accepted_at is not None and order.requested_by == world.holder.party_id


def test_an_unknown_terms_language_is_explained(world: World) -> None:
    [result] = submit_orders(
        world.engine, [Submission(world.holder, world.open_request(terms_lang="de"))]
    )
    assert isinstance(result, InvalidInput) and "terms_lang" in result.fields


async def test_the_batcher_gathers_what_arrives_while_it_works() -> None:
    sizes: list[int] = []
    busy = threading.Event()
    go_on = threading.Event()

    def work(items: list[int]) -> list[int | Exception]:
        sizes.append(len(items))
        if len(sizes) == 1:
            busy.set()
            go_on.wait(5)  # the first batch is slow: everything else arrives meanwhile
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(work, name="test-batcher")

    async def call(i: int) -> int | str:
        try:
            return await batcher(i)
        except ValueError as exc:
            return str(exc)

    first = asyncio.create_task(call(0))
    await asyncio.to_thread(busy.wait, 5)
    rest = [asyncio.create_task(call(i)) for i in range(1, 40)]
    await asyncio.sleep(0.01)
    go_on.set()
    answers = await asyncio.gather(first, *rest)
    assert answers == [0] + [f"odd {i}" if i % 2 else i * 10 for i in range(1, 40)]
    assert sizes == [1, 39]  # a lone call goes at once; the others make one batch


async def test_calls_arriving_together_make_one_batch() -> None:
    sizes: list[int] = []

    def work(items: list[int]) -> list[int | Exception]:
        sizes.append(len(items))
        return list(items)

    batcher: Batcher[int, int] = Batcher(work, name="test-batcher")
    assert await asyncio.gather(*(batcher(i) for i in range(25))) == list(range(25))
    assert sizes == [25]


async def test_a_caller_that_went_away_before_its_batch_is_not_worked_on() -> None:
    seen: list[str] = []

    def work(items: list[str]) -> list[str | Exception]:
        seen.extend(items)
        return list(items)

    batcher: Batcher[str, str] = Batcher(work, name="test-batcher")
    kept = asyncio.create_task(batcher("kept"))
    gone = asyncio.create_task(batcher("gone"))
    await asyncio.sleep(0)  # both are queued; the batch has not started
    gone.cancel()
    assert await kept == "kept"
    assert seen == ["kept"]  # an order nobody waits for is not placed (found in review)


async def test_a_failing_batch_fails_each_of_its_callers() -> None:
    def work(items: list[int]) -> list[int | Exception]:
        raise RuntimeError("database gone")

    batcher: Batcher[int, int] = Batcher(work, name="test-batcher")
    outcomes = await asyncio.gather(*(batcher(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


@pytest.mark.postgres
def test_parallel_batches_for_the_same_point_let_one_order_through(postgres_url: str) -> None:
    """Two web workers' batches race for one point: the row lock lets exactly one order in."""
    from concurrent.futures import ThreadPoolExecutor

    from portal_world import make_world

    from hanport.portal.db.engine import make_engine, migrate

    engine = make_engine(postgres_url)
    migrate(engine)
    world = make_world(engine)
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda batch: submit_orders(engine, batch),
                [
                    [Submission(world.holder, world.open_request())],
                    [Submission(world.holder, world.open_request(action="close"))],
                ],
            )
        )
    with engine.connect() as conn:
        live = conn.execute(
            select(orders.c.id).where(
                orders.c.metering_point_id == world.mpid, orders.c.state == "validated"
            )
        ).all()
    assert len(live) == 1  # the later one superseded the earlier, or was refused
    assert verify_chain(engine).ok
    engine.dispose()


@pytest.mark.postgres
def test_batches_refused_in_part_do_not_deadlock(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A point whose first order is refused is locked with the rest of its batch, up front, so
    two batches never take their locks in opposite order (found in review)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from portal_world import make_world

    from hanport.portal.db.engine import make_engine, migrate
    from hanport.portal.services import orders as orders_service

    engine = make_engine(postgres_url)
    migrate(engine)
    world = make_world(engine)
    first, second = DEMO_METERS[0].metering_point_id, DEMO_METERS[1].metering_point_id
    holders = orders_service.authz.active_holders
    turns = threading.local()

    def slowly(conn, mpids, day):  # type: ignore[no-untyped-def]
        turns.count = getattr(turns, "count", 0) + 1
        if turns.count == 1:
            time.sleep(0.5)  # both batches are inside their first turn now
        return holders(conn, mpids, day)

    monkeypatch.setattr(orders_service.authz, "active_holders", slowly)
    alone: list[int] = []
    submit_alone = orders_service._submit_alone
    monkeypatch.setattr(
        orders_service, "_submit_alone", lambda *args: (alone.append(1), submit_alone(*args))[1]
    )

    def batch(refused: str, other: str) -> list[Submission]:
        return [
            Submission(world.stranger, world.open_request(metering_point_id=refused)),
            Submission(world.holder, world.open_request(metering_point_id=other)),
            Submission(world.holder, world.open_request(metering_point_id=refused)),
        ]

    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda b: submit_orders(engine, b), [batch(first, second), batch(second, first)]
            )
        )
    assert alone == []  # no deadlock broke a batch up into single orders
    assert verify_chain(engine).ok
    engine.dispose()
