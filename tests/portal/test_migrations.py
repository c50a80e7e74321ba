"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from hanport.portal.db.engine import migrate
from hanport.portal.db.schema import metadata


def test_migrations_match_the_tables(engine: Engine) -> None:
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0004"
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_0003_ends_duplicate_live_proxies_keeping_the_newest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import date, timedelta

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
        "valid_from": date.today(),
        "valid_to": date.today() + timedelta(days=9),
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
