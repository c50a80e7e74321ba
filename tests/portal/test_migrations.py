"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from portal_world import oslo_today
from sqlalchemy import Engine

from hanport.portal.db.engine import migrate
from hanport.portal.db.schema import metadata


@pytest.mark.both_databases
def test_migrations_match_the_tables(engine: Engine) -> None:
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0015"
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_0003_ends_duplicate_live_proxies_keeping_the_newest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from alembic import command
    from sqlalchemy import select

    from hanport.portal.db.engine import alembic_config, make_engine
    from hanport.portal.db.schema import proxies
    from hanport.portal.seed import DEMO_METERS, seed_demo
    from hanport.portal.services.tx import utcnow

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0002")
    ids = seed_demo(engine)
    row = {
        "principal_id": ids["ola@example.no"],
        "agent_id": ids["kari@example.no"],
        "metering_point_id": DEMO_METERS[0].metering_point_id,
        "valid_from": oslo_today(),
        "valid_to": oslo_today() + timedelta(days=9),
        "created_at": utcnow(),
    }
    with engine.begin() as conn:
        for scope in ("act", "view", "act"):
            conn.execute(proxies.insert().values(scope=scope, **row))
    migrate(engine)
    with engine.connect() as conn:
        live = conn.execute(select(proxies.c.id).where(proxies.c.revoked_at.is_(None))).all()
        newest = conn.execute(select(proxies.c.id).order_by(proxies.c.id.desc())).first()
    assert live == [newest]
    engine.dispose()


def test_0005_ends_older_open_contracts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from alembic import command
    from sqlalchemy import select

    from hanport.portal.db.engine import alembic_config, make_engine
    from hanport.portal.db.schema import contracts
    from hanport.portal.seed import DEMO_METERS, seed_demo

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0004")
    ids = seed_demo(engine)
    mpid = DEMO_METERS[0].metering_point_id
    with engine.begin() as conn:
        # what two customer changes used to leave behind: two open contracts
        conn.execute(
            contracts.insert().values(
                party_id=ids["kari@example.no"], metering_point_id=mpid, valid_from=date(2026, 5, 1)
            )
        )
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(contracts.c.party_id, contracts.c.valid_to)
            .where(contracts.c.metering_point_id == mpid)
            .order_by(contracts.c.id)
        ).all()
    assert [r.valid_to for r in rows] == [date(2026, 5, 1), None]
    assert rows[-1].party_id == ids["kari@example.no"]
    engine.dispose()


def test_0008_gives_watched_completed_opens_a_push_watch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from alembic import command
    from sqlalchemy import select

    from hanport.portal.db.engine import alembic_config, make_engine
    from hanport.portal.db.schema import meters, orders, push_watches
    from hanport.portal.seed import DEMO_METERS, seed_demo
    from hanport.portal.services.tx import utcnow

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0007")
    seed_demo(engine)
    now = utcnow()
    with engine.begin() as conn:
        meter_id = conn.execute(select(meters.c.id)).scalars().first()

        def order(action: str, next_attempt_at: object) -> int:
            return int(
                conn.execute(
                    orders.insert().values(
                        metering_point_id=DEMO_METERS[0].metering_point_id,
                        meter_id=meter_id,
                        action=action,
                        state="completed",
                        channel="portal",
                        contact_email="ola@example.no",
                        lang="nb",
                        attempts=0,
                        push_seen=False,
                        verified_at=now - timedelta(minutes=5),
                        completed_at=now - timedelta(minutes=4),
                        next_attempt_at=next_attempt_at,
                        sla_due_at=now + timedelta(days=3),
                        created_at=now - timedelta(minutes=10),
                        updated_at=now,
                    )
                ).inserted_primary_key[0]
            )

        # before 0008 a completed open without a push was watched through next_attempt_at
        watched = order("open", now + timedelta(minutes=5))
        order("close", None)
    migrate(engine)
    with engine.connect() as conn:
        watches = conn.execute(select(push_watches)).all()
        due = conn.execute(select(orders.c.id).where(orders.c.next_attempt_at.is_not(None))).all()
    assert [(w.order_id, w.since, w.next_look_at) for w in watches] == [
        (watched, now - timedelta(minutes=5), now + timedelta(minutes=5))
    ]
    assert due == []  # a completed order is never due itself
