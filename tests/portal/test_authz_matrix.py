"""Authorisation matrix: every role × every operation, through the services, on both databases.

Allowed operations succeed; refused ones raise Refused and leave a `*.refused` audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from portal_world import World, oslo_today
from sqlalchemy import Connection, delete, func, select, update

from hanport.portal.db.schema import audit_events, orders, port_states
from hanport.portal.domain.model import Actor, Operation, PortState
from hanport.portal.services import authz
from hanport.portal.services.errors import Refused
from hanport.portal.services.intake import OrderRequest, submit_order
from hanport.portal.services.lifecycle import cancel_order, get_order, override_order
from hanport.portal.services.proxies import invite_proxy, revoke_proxy
from hanport.portal.services.tx import utcnow

OPERATIONS = [
    "view_point",
    "view_order",
    "order_open",
    "order_close",
    "cancel_order",
    "invite_proxy",
    "revoke_proxy",
    "override",
]

Y, N = True, False
#: role -> allowed per operation, in OPERATIONS order
MATRIX: dict[str, list[bool]] = {
    "holder": [Y, Y, Y, Y, Y, Y, Y, N],
    "act_proxy": [Y, Y, Y, Y, Y, N, N, N],
    "view_proxy": [Y, Y, N, N, N, N, N, N],
    "expired_proxy": [N, N, N, N, N, N, N, N],
    "revoked_proxy": [N, N, N, N, N, N, N, N],
    "stranger": [N, N, N, N, N, N, N, N],
    "staff": [Y, Y, Y, Y, Y, Y, Y, Y],
}


def _staff_order(world: World) -> int:
    return submit_order(world.engine, world.staff, world.open_request(), channel="backoffice")


def _reset(world: World) -> None:
    """Cancel whatever is open and close the port, so each operation starts alike."""
    with world.engine.begin() as conn:
        conn.execute(
            update(orders)
            .where(orders.c.state.in_(["validated", "retrying", "escalated"]))
            .values(state="cancelled", next_attempt_at=None)
        )
        _force_port(conn, world.mpid, PortState.CLOSED)


def _force_port(conn: Connection, mpid: str, state: PortState) -> None:
    """Set the port's state directly, as the test's starting point."""
    conn.execute(delete(port_states).where(port_states.c.metering_point_id == mpid))
    conn.execute(
        port_states.insert().values(
            metering_point_id=mpid, state=state.value, since=utcnow(), push_seen=False
        )
    )


def _operations(world: World, actor: Actor) -> dict[str, Callable[[], object]]:
    engine = world.engine

    def view_point() -> None:
        with engine.connect() as conn:
            if not authz.decide(conn, actor, Operation.VIEW, world.mpid, oslo_today()).allowed:
                raise Refused("view")

    def view_order() -> None:
        order_id = _staff_order(world)
        get_order(engine, actor, order_id)

    def order_open() -> None:
        submit_order(engine, actor, world.open_request())

    def order_close() -> None:
        with engine.begin() as conn:
            _force_port(conn, world.mpid, PortState.OPEN)
        submit_order(engine, actor, OrderRequest(world.mpid, "close"))

    def cancel() -> None:
        cancel_order(engine, actor, _staff_order(world))

    def invite() -> None:
        invite_proxy(
            engine,
            actor,
            world.mpid,
            agent_email="new.agent@example.no",
            agent_name="New Agent",
            scope="view",
            valid_to=(oslo_today() + timedelta(days=30)).isoformat(),
        )

    def revoke() -> None:
        extra = invite_proxy(
            engine,
            world.holder,
            world.mpid,
            agent_email="x@example.no",
            agent_name="X",
            scope="view",
            valid_to=(oslo_today() + timedelta(days=30)).isoformat(),
        )
        revoke_proxy(engine, actor, extra)

    def override() -> None:
        order_id = _staff_order(world)
        with engine.begin() as conn:
            conn.execute(update(orders).where(orders.c.id == order_id).values(state="escalated"))
        override_order(engine, actor, order_id, kind="fail", reason="meter swap booked")

    return {
        "view_point": view_point,
        "view_order": view_order,
        "order_open": order_open,
        "order_close": order_close,
        "cancel_order": cancel,
        "invite_proxy": invite,
        "revoke_proxy": revoke,
        "override": override,
    }


def _refusals(world: World) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(audit_events)
                .where(audit_events.c.action.like("%.refused"))
            ).scalar_one()
        )


@pytest.mark.parametrize("role", list(MATRIX))
def test_authorisation_matrix(world: World, role: str) -> None:
    actor: Actor = getattr(world, role)
    outcome = {}
    for name, operation in _operations(world, actor).items():
        _reset(world)
        before = _refusals(world)
        try:
            operation()
            outcome[name] = True
        except Refused:
            outcome[name] = False
            if name != "view_point":  # the pure decision is not a command
                assert _refusals(world) == before + 1, f"{name}: refusal not audited"
    assert outcome == dict(zip(OPERATIONS, MATRIX[role], strict=True))


def test_proxy_ends_with_the_principals_contract(sqlite_world: World) -> None:
    from hanport.portal.db.schema import contracts

    world = sqlite_world
    with world.engine.begin() as conn:
        conn.execute(
            update(contracts)
            .where(contracts.c.party_id == world.holder.party_id)
            .values(valid_to=oslo_today())
        )
    with world.engine.connect() as conn:
        decision = authz.decide(conn, world.act_proxy, Operation.ORDER, world.mpid, oslo_today())
    assert not decision.allowed
    assert decision.reason == "proxy_contract_ended"


def test_refusal_reason_is_recorded(sqlite_world: World) -> None:
    world = sqlite_world
    with pytest.raises(Refused):
        submit_order(world.engine, world.expired_proxy, world.open_request())
    with world.engine.connect() as conn:
        row = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc())).first()
    assert row is not None
    assert row.action == "order.submit.refused"
    assert '"reason": "proxy_expired"' in row.data_json
    assert row.actor == world.expired_proxy.label


def test_proxy_is_valid_through_its_last_day(sqlite_world: World) -> None:
    world = sqlite_world
    from hanport.portal.db.schema import proxies

    with world.engine.begin() as conn:
        conn.execute(
            update(proxies)
            .where(proxies.c.id == world.proxy_ids["act"])
            .values(valid_to=oslo_today())
        )
    with world.engine.connect() as conn:
        today = authz.decide(conn, world.act_proxy, Operation.ORDER, world.mpid, oslo_today())
        tomorrow = authz.decide(
            conn, world.act_proxy, Operation.ORDER, world.mpid, oslo_today() + timedelta(days=1)
        )
    assert today.allowed
    assert (tomorrow.allowed, tomorrow.reason) == (False, "proxy_expired")


@pytest.mark.both_databases
def test_reinvite_replaces_the_live_proxy(world: World) -> None:
    from hanport.portal.db.schema import proxies

    later = (oslo_today() + timedelta(days=30)).isoformat()
    # the act agent is invited again with view only: that is now their one proxy
    newest = invite_proxy(
        world.engine,
        world.holder,
        world.mpid,
        agent_email="agent@provider.example",
        agent_name="Agent Act",
        scope="view",
        valid_to=later,
    )
    with world.engine.connect() as conn:
        live = conn.execute(
            select(proxies.c.id, proxies.c.scope).where(
                proxies.c.agent_id == world.act_proxy.party_id, proxies.c.revoked_at.is_(None)
            )
        ).all()
        points = authz.viewable_points(conn, world.act_proxy, oslo_today())
    assert [(p.id, p.scope) for p in live] == [(newest, "view")]
    assert [how for _, how, _ in points] == ["proxy-view"]  # the label is what is enforced
    with pytest.raises(Refused):
        submit_order(world.engine, world.act_proxy, world.open_request())
    # revoking the proxy the holder sees ends the agent's access altogether
    revoke_proxy(world.engine, world.holder, newest)
    with world.engine.connect() as conn:
        decision = authz.decide(conn, world.act_proxy, Operation.VIEW, world.mpid, oslo_today())
    assert not decision.allowed


@pytest.mark.parametrize("role", list(MATRIX))
def test_deciding_several_operations_at_once_decides_each_alike(world: World, role: str) -> None:
    """The point page asks for view, order and proxies in one go: the same answers as one by
    one, reasons included."""
    actor: Actor = getattr(world, role)
    today = utcnow().date()
    with world.engine.connect() as conn:
        at_once = authz.decide_each(conn, actor, list(Operation), world.mpid, today)
        one_by_one = {op: authz.decide(conn, actor, op, world.mpid, today) for op in Operation}
    assert at_once == one_by_one
