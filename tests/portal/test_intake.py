"""Order intake: one order, one short transaction; each order sees the one before it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import audit_events, orders, terms_versions
from hanport.portal.services.audit import verify_chain
from hanport.portal.services.errors import Conflict, InvalidInput, Refused
from hanport.portal.services.intake import submit_order


def _audit_actions(world: World) -> list[str]:
    with world.engine.connect() as conn:
        return list(
            conn.execute(select(audit_events.c.action).order_by(audit_events.c.seq)).scalars()
        )


def test_a_refused_order_is_audited_and_stores_nothing(world: World) -> None:
    with pytest.raises(Refused):
        submit_order(world.engine, world.stranger, world.open_request())
    with world.engine.connect() as conn:
        assert conn.execute(select(orders)).all() == []
    assert "order.submit.refused" in _audit_actions(world)
    assert verify_chain(world.engine).ok


def test_invalid_fields_and_stale_terms_are_explained(world: World) -> None:
    with pytest.raises(InvalidInput) as invalid:
        submit_order(world.engine, world.holder, world.open_request(metering_point_id="7070575"))
    assert "metering_point_id" in invalid.value.fields
    with pytest.raises(InvalidInput) as language:
        submit_order(world.engine, world.holder, world.open_request(terms_lang="de"))
    assert "terms_lang" in language.value.fields
    stale = world.open_request(terms_version_id=999)
    with pytest.raises(Conflict) as changed:
        submit_order(world.engine, world.holder, stale)
    assert "terms have changed" in changed.value.en


def test_an_order_records_the_terms_text_and_language_it_accepted(world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request(terms_lang="en"))
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


def test_the_next_order_for_a_point_supersedes_the_waiting_one(world: World) -> None:
    first = submit_order(world.engine, world.holder, world.open_request())
    second = submit_order(world.engine, world.act_proxy, world.open_request(action="close"), "api")
    with world.engine.connect() as conn:
        states = {r.id: r.state for r in conn.execute(select(orders.c.id, orders.c.state))}
    assert states == {first: "superseded", second: "validated"}
    # the holder hears that the agent's close replaced the open
    subjects = [subject for _, subject, _ in world.mails("ola@example.no")]
    assert any(str(second) in subject for subject in subjects)
    assert verify_chain(world.engine).ok


@pytest.mark.both_databases
def test_racing_orders_for_one_point_let_exactly_one_through(world: World) -> None:
    """Two web workers race for one point: the point's lock decides them in turn."""
    requests = [world.open_request(), world.open_request(action="close")]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(
            pool.map(
                lambda request: _outcome(world, request),
                requests,
            )
        )
    with world.engine.connect() as conn:
        live = conn.execute(
            select(orders.c.id).where(
                orders.c.metering_point_id == world.mpid, orders.c.state == "validated"
            )
        ).all()
    assert len(live) == 1  # the later one superseded the earlier, or was refused
    assert all(isinstance(o, int | Conflict) for o in outcomes)
    assert verify_chain(world.engine).ok


def _outcome(world: World, request: object) -> int | Exception:
    try:
        return submit_order(world.engine, world.holder, request)  # type: ignore[arg-type]
    except Conflict as exc:
        return exc
