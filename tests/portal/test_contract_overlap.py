"""The database refuses contracts whose periods overlap on a metering point (migration 0007),
on SQLite and PostgreSQL; existing overlaps are resolved with the newer contract winning."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

import pytest
from portal_world import World, oslo_today
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from hanport.portal.db.schema import contracts
from hanport.portal.services.moves import apply_due_changes, register_customer_change

#: the overlap triggers are written for each database (plpgsql on PostgreSQL)
pytestmark = pytest.mark.both_databases

D = date(2026, 1, 1)


def _set_holder_period(world: World, valid_from: date, valid_to: date | None) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            update(contracts)
            .where(contracts.c.metering_point_id == world.mpid)
            .values(valid_from=valid_from, valid_to=valid_to)
        )


def _insert(world: World, valid_from: date, valid_to: date | None) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            contracts.insert().values(
                party_id=world.stranger.party_id,
                metering_point_id=world.mpid,
                valid_from=valid_from,
                valid_to=valid_to,
            )
        )


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [
        (D + timedelta(days=10), D + timedelta(days=20)),  # inside
        (D - timedelta(days=10), D + timedelta(days=1)),  # across the start
        (D + timedelta(days=29), None),  # open ended, across the end
        (D - timedelta(days=10), None),  # around
    ],
)
def test_an_overlapping_contract_is_refused(
    world: World, valid_from: date, valid_to: date | None
) -> None:
    _set_holder_period(world, D, D + timedelta(days=30))
    with pytest.raises(IntegrityError, match="must not overlap"):
        _insert(world, valid_from, valid_to)


def test_adjacent_contracts_are_allowed_and_updates_are_checked(world: World) -> None:
    _set_holder_period(world, D, D + timedelta(days=30))
    _insert(world, D + timedelta(days=30), None)  # valid_to is exclusive: no overlap
    _insert(world, D - timedelta(days=30), D)
    with pytest.raises(IntegrityError, match="must not overlap"), world.engine.begin() as conn:
        # stretching the holder's period into the next contract
        conn.execute(
            update(contracts)
            .where(contracts.c.party_id == world.holder.party_id)
            .where(contracts.c.metering_point_id == world.mpid)
            .values(valid_to=None)
        )
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(
            update(contracts)
            .where(contracts.c.party_id == world.holder.party_id)
            .where(contracts.c.metering_point_id == world.mpid)
            .values(valid_to=D - timedelta(days=1))  # ends before it begins
        )


async def test_concurrent_overlapping_inserts_leave_one(world: World) -> None:
    _set_holder_period(world, D, D + timedelta(days=30))
    start = D + timedelta(days=30)

    def insert() -> str:
        try:
            _insert(world, start, None)
        except (IntegrityError, DBAPIError):
            return "refused"
        return "ok"

    results = await asyncio.gather(*(asyncio.to_thread(insert) for _ in range(6)))
    assert sorted(results) == ["ok"] + ["refused"] * 5


def test_a_move_still_works(world: World) -> None:
    today = oslo_today()
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=today.isoformat(),
        new_email="new@example.no",
        new_name="New Customer",
    )
    apply_due_changes(world.engine, today)
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(contracts.c.party_id, contracts.c.valid_to)
            .where(contracts.c.metering_point_id == world.mpid)
            .order_by(contracts.c.id)
        ).all()
    assert rows[0].valid_to == today
    assert rows[-1].valid_to is None and rows[-1].party_id != world.holder.party_id


def test_0007_resolves_existing_overlaps_newer_wins(tmp_path: Path) -> None:
    from alembic import command

    from hanport.portal.db.engine import alembic_config, make_engine, migrate
    from hanport.portal.seed import DEMO_METERS, seed_demo

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0006")
    ids = seed_demo(engine)
    mpid = DEMO_METERS[0].metering_point_id
    with engine.begin() as conn:
        conn.execute(
            update(contracts)
            .where(contracts.c.metering_point_id == mpid)
            .values(valid_from=date(2025, 1, 1), valid_to=date(2025, 12, 1))
        )
        for party, start, end in (
            ("kari@example.no", date(2025, 3, 1), date(2025, 4, 1)),  # inside the first
            ("kari@example.no", date(2025, 3, 15), None),  # across the second's end
        ):
            conn.execute(
                contracts.insert().values(
                    party_id=ids[party], metering_point_id=mpid, valid_from=start, valid_to=end
                )
            )
    migrate(engine)
    with engine.connect() as conn:
        periods = [
            (r.valid_from, r.valid_to)
            for r in conn.execute(
                select(contracts.c.valid_from, contracts.c.valid_to)
                .where(contracts.c.metering_point_id == mpid)
                .order_by(contracts.c.valid_from)
            )
        ]
    assert periods == [
        (date(2025, 1, 1), date(2025, 3, 1)),
        (date(2025, 3, 1), date(2025, 3, 15)),
        (date(2025, 3, 15), None),
    ]
    engine.dispose()
