"""The audit log is append-only and hash-chained: any edit, removal or reordering is detected."""

from __future__ import annotations

import argparse

import pytest
from portal_world import World
from sqlalchemy import delete, func, select, update

from hanport.portal.cli import run_audit_verify
from hanport.portal.db.schema import audit_events, audit_head
from hanport.portal.services.audit import verify_chain
from hanport.portal.services.orders import submit_order


def _count(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())


def test_intact_chain_verifies(world: World) -> None:
    submit_order(world.engine, world.holder, world.open_request())
    report = verify_chain(world.engine)
    assert report.ok, report
    assert report.checked == _count(world) > 5


@pytest.mark.parametrize(
    "tamper", ["edit_data", "edit_actor", "delete_middle", "delete_last", "swap", "rehash_one"]
)
def test_tampering_is_detected(world: World, tamper: str) -> None:
    submit_order(world.engine, world.holder, world.open_request())
    total = _count(world)
    victim = total // 2
    with world.engine.begin() as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.seq == victim)).one()
        where = audit_events.c.seq == victim
        if tamper == "edit_data":
            conn.execute(update(audit_events).where(where).values(data_json='{"reason": "ok"}'))
        elif tamper == "edit_actor":
            conn.execute(update(audit_events).where(where).values(actor="party:999"))
        elif tamper == "delete_middle":
            conn.execute(delete(audit_events).where(where))
        elif tamper == "delete_last":
            # removing the newest entries leaves a valid-looking prefix; the head catches it
            conn.execute(delete(audit_events).where(audit_events.c.seq == total))
        elif tamper == "swap":
            other = conn.execute(select(audit_events).where(audit_events.c.seq == victim + 1)).one()
            conn.execute(update(audit_events).where(where).values(data_json=other.data_json))
            conn.execute(
                update(audit_events)
                .where(audit_events.c.seq == victim + 1)
                .values(data_json=row.data_json)
            )
        elif tamper == "rehash_one":
            # a forger who recomputes this entry's hash still breaks the next link
            from hanport.portal.services.audit import entry_hash

            fields = (row.actor, row.action, row.object_type, row.object_id, '{"forged": 1}')
            conn.execute(
                update(audit_events)
                .where(where)
                .values(
                    data_json='{"forged": 1}',
                    hash=entry_hash(row.prev_hash, row.seq, row.at, fields),
                )
            )
    report = verify_chain(world.engine)
    assert not report.ok
    assert report.first_bad_seq in (victim, victim + 1, total)
    assert report.problem


def test_audit_verify_command(sqlite_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world = sqlite_world
    url = world.engine.url.render_as_string(hide_password=False)
    assert run_audit_verify(argparse.Namespace(db=url)) == 0
    assert "chain intact" in capsys.readouterr().out
    with world.engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(actor="nobody"))
    assert run_audit_verify(argparse.Namespace(db=url)) == 1
    assert "BROKEN at entry 2" in capsys.readouterr().err


def test_head_tracks_the_last_entry(sqlite_world: World) -> None:
    with sqlite_world.engine.connect() as conn:
        head = conn.execute(select(audit_head)).one()
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc())).first()
    assert last is not None
    assert (head.seq, head.hash) == (last.seq, last.hash)
