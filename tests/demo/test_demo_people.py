"""The demo's printed table of people and meters comes from the portal's database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select, update

from hanport.demo.orchestrator import DemoOptions, DemoPorts, DemoRun
from hanport.emulator.load import OSLO
from hanport.portal.db.engine import make_engine, migrate
from hanport.portal.db.schema import contracts, parties
from hanport.portal.seed import DEMO_METERS, seed_demo

MOVED_IN = "ny.kunde@example.no"


def _move_in_new_customer(path: Path, metering_point_id: str, on: date) -> None:
    """End the seeded contract on the point and start one for a new customer, as a move does."""
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(
            update(contracts)
            .where(contracts.c.metering_point_id == metering_point_id)
            .values(valid_to=on)
        )
        conn.execute(
            parties.insert().values(
                kind="person",
                display_name="Ny Kunde",
                email=MOVED_IN,
                lang="nn",
                role="customer",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        party_id = conn.execute(select(parties.c.id).where(parties.c.email == MOVED_IN)).scalar()
        conn.execute(
            contracts.insert().values(
                party_id=party_id, metering_point_id=metering_point_id, valid_from=on
            )
        )
    engine.dispose()


def test_banner_names_the_customer_after_a_move(tmp_path: Path) -> None:
    database = tmp_path / "portal.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    seed_demo(engine)
    engine.dispose()
    moved, stayed = DEMO_METERS[0], DEMO_METERS[1]
    demo = DemoRun(DemoOptions(tmp_path), meters=list(DEMO_METERS))
    demo.ports = DemoPorts.from_base(0)
    demo._clock_at_start = datetime(2026, 3, 1, 12, tzinfo=OSLO)

    assert demo.customers()[moved.meter_id] == moved.customer_email
    _move_in_new_customer(database, moved.metering_point_id, date(2026, 2, 1))

    banner = demo.banner()
    row = next(line for line in banner.splitlines() if moved.meter_id in line)
    assert MOVED_IN in row and moved.customer_email not in row, "the move names the new customer"
    other = next(line for line in banner.splitlines() if stayed.meter_id in line)
    assert stayed.customer_email in other
    assert f"som {MOVED_IN}" in banner, "the sign-in hint names whoever holds the first point"
