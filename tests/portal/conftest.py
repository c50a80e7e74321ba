"""Fixtures for the port service: a migrated, seeded database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emulated_fleet import EmulatedFleet
from portal_world import World, make_world
from sqlalchemy import Engine

from hanport.portal.db.engine import make_engine, migrate


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same tests run on SQLite (the default) and PostgreSQL (by URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def world(engine: Engine) -> World:
    return make_world(engine)


@pytest.fixture
def sqlite_world(sqlite_engine: Engine) -> World:
    return make_world(sqlite_engine)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[EmulatedFleet]:
    running = EmulatedFleet.start(tmp_path)
    yield running
    running.stop()
