"""The audit log is append-only and hash-chained: any edit, removal or reordering is detected."""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from portal_world import World
from sqlalchemy import Connection, delete, func, select, text, update

from hanport.portal.cli import run_audit_verify
from hanport.portal.db.engine import begin_write
from hanport.portal.db.schema import audit_events, audit_head
from hanport.portal.services.audit import AuditEntry, append, current_head, verify_chain
from hanport.portal.services.intake import submit_order
from hanport.portal.services.tx import utcnow


def drop_guards(conn: Connection) -> None:
    """Act as a database owner who removes the append-only triggers (migration 0004) first:
    what the hash chain alone must still detect."""
    if conn.dialect.name == "postgresql":
        for table, trigger in (
            ("audit_events", "audit_events_no_change"),
            ("audit_events", "audit_events_no_truncate"),
            ("audit_head", "audit_head_forward"),
            ("audit_head", "audit_head_no_delete"),
            ("audit_head", "audit_head_no_truncate"),
        ):
            conn.execute(text(f"DROP TRIGGER {trigger} ON {table}"))
    else:
        for trigger in (
            "audit_events_no_update",
            "audit_events_no_delete",
            "audit_head_forward",
            "audit_head_no_delete",
        ):
            conn.execute(text(f"DROP TRIGGER {trigger}"))


def _count(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())


@pytest.mark.both_databases
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
        drop_guards(conn)
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
        drop_guards(conn)
        conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(actor="nobody"))
    assert run_audit_verify(argparse.Namespace(db=url)) == 1
    assert "BROKEN at entry 2" in capsys.readouterr().err


def test_head_tracks_the_last_entry(sqlite_world: World) -> None:
    with sqlite_world.engine.connect() as conn:
        head = conn.execute(select(audit_head)).one()
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc())).first()
    assert last is not None
    assert (head.seq, head.hash) == (last.seq, last.hash)


@pytest.mark.both_databases
def test_the_database_refuses_to_change_or_cut_the_log(world: World) -> None:
    from sqlalchemy.exc import DBAPIError

    submit_order(world.engine, world.holder, world.open_request())
    for statement in (
        update(audit_events).where(audit_events.c.seq == 2).values(actor="nobody"),
        delete(audit_events).where(audit_events.c.seq >= 3),
        update(audit_head).values(seq=2),  # setting the head back to hide a cut tail
        delete(audit_head),
    ):
        with (
            pytest.raises(DBAPIError, match=r"append-only|only moves forward"),
            world.engine.begin() as conn,
        ):
            conn.execute(statement)
    assert verify_chain(world.engine).ok
    submit_order(world.engine, world.holder, world.open_request(action="close"))
    assert verify_chain(world.engine).ok  # appending still works


@pytest.mark.both_databases
@pytest.mark.parametrize("attack", ["cut_tail", "rewrite"])
def test_a_recorded_head_detects_a_cut_tail_or_a_rewrite(world: World, attack: str) -> None:
    from hanport.portal.services.audit import AuditEntry, append, current_head

    submit_order(world.engine, world.holder, world.open_request())
    recorded = current_head(world.engine)  # kept outside the database
    with world.engine.begin() as conn:
        drop_guards(conn)
        if attack == "cut_tail":
            # the reviewer's attack: drop the newest entries and set the head back
            conn.execute(delete(audit_events).where(audit_events.c.seq > 2))
            two = conn.execute(select(audit_events).where(audit_events.c.seq == 2)).one()
            conn.execute(update(audit_head).values(seq=2, hash=two.hash))
        else:
            # a consistent new chain from scratch, with one entry changed
            rows = conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()
            conn.execute(delete(audit_events))
            conn.execute(update(audit_head).values(seq=0, hash="0" * 64))
            append(
                conn,
                [
                    AuditEntry(
                        r.at,
                        "someone-else" if r.seq == 1 else r.actor,
                        r.action,
                        r.object_type,
                        r.object_id,
                        json.loads(r.data_json),
                    )
                    for r in rows
                ],
            )
    assert verify_chain(world.engine).ok  # consistent in itself: the chain alone cannot tell
    report = verify_chain(world.engine, expect_head=recorded)
    assert not report.ok
    assert report.first_bad_seq == recorded[0]


def test_audit_verify_prints_and_checks_the_head(
    sqlite_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world = sqlite_world
    url = world.engine.url.render_as_string(hide_password=False)
    assert run_audit_verify(argparse.Namespace(db=url, expect_head=None)) == 0
    head = capsys.readouterr().out.split("head ", 1)[1].split()[0]
    assert run_audit_verify(argparse.Namespace(db=url, expect_head=head)) == 0
    with world.engine.begin() as conn:
        drop_guards(conn)
        conn.execute(delete(audit_events).where(audit_events.c.seq > 1))
        one = conn.execute(select(audit_events)).one()
        conn.execute(update(audit_head).values(seq=1, hash=one.hash))
    assert run_audit_verify(argparse.Namespace(db=url, expect_head=head)) == 1
    assert "cut off" in capsys.readouterr().err
    assert run_audit_verify(argparse.Namespace(db=url, expect_head="12:zz")) == 2


@pytest.mark.both_databases
def test_concurrent_writers_keep_one_chain(world: World) -> None:
    """Writers racing for the head, several entries each, still make one unbroken chain whose
    head is its last entry (PostgreSQL appends with the head's update in one statement)."""
    before = _count(world)
    writers, per_writer = 8, 3

    def write(n: int) -> None:
        entries = [
            AuditEntry(utcnow(), "test", "race.entry", "writer", f"{n}-{i}", {"i": i})
            for i in range(per_writer)
        ]
        with begin_write(world.engine) as conn:
            append(conn, entries)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(writers)))
    report = verify_chain(world.engine)
    assert report.ok, report
    assert _count(world) == before + writers * per_writer == report.checked
    assert current_head(world.engine)[0] == report.checked
