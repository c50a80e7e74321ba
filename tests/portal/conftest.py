"""Fixtures for the port service: a migrated database holding the demo world, per test.

Migrating and seeding take most of a second, so they run once per session and database kind,
into a template; every test gets its own copy of it (a file copy on SQLite,
``CREATE DATABASE … TEMPLATE`` on PostgreSQL). Tests run on SQLite. Those marked
``both_databases`` run on PostgreSQL too: what depends on its locking, its concurrency, its
dialect of SQL or the migrations, and one end-to-end flow. ``pytest --both-databases`` runs
every test that uses ``engine`` (or ``world``) on both.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from emulated_fleet import EmulatedFleet
from portal_world import World, make_world
from sqlalchemy import Engine

from hanport.portal.db.engine import make_engine, migrate
from services.postgres import PostgresServer

_SQLITE_FILE = "portal.db"
#: what SQLite may keep beside the database file (empty once every connection is closed)
_SQLITE_SIDE_FILES = ("-wal", "-shm")
_BOTH = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class PortalTemplate:
    """A migrated database holding the demo world, copied for each test; nobody stays
    connected to it."""

    url: str
    world: World  #: the world as seeded there (ids are valid in every copy)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker("both_databases") is not None
    if marked or metafunc.config.getoption("both_databases"):
        metafunc.parametrize("engine", _BOTH, indirect=True)


def _build_template(url: str) -> PortalTemplate:
    engine = make_engine(url)
    try:
        migrate(engine)
        world = make_world(engine)
    finally:
        engine.dispose()  # a copy is taken from a database nobody is connected to
    return PortalTemplate(url, world)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> PortalTemplate:
    path = tmp_path_factory.mktemp("portal-template") / _SQLITE_FILE
    return _build_template(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[PortalTemplate]:
    url = postgres_server.create_database("hanport_template")
    try:
        yield _build_template(url)
    finally:
        postgres_server.drop_database(url)


def _copy_sqlite(template: PortalTemplate, directory: Path) -> str:
    source = Path(template.url.removeprefix("sqlite:///"))
    target = directory / _SQLITE_FILE
    shutil.copyfile(source, target)
    for suffix in _SQLITE_SIDE_FILES:
        side = source.with_name(source.name + suffix)
        if side.exists():
            shutil.copyfile(side, target.with_name(target.name + suffix))
    return f"sqlite:///{target}"


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A copy of the template: SQLite, or PostgreSQL for tests marked ``both_databases``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        engine = make_engine(_copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path))
        yield engine
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template: PortalTemplate = request.getfixturevalue("postgres_template")
    url = server.create_database(template=template.url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        server.drop_database(url)


@pytest.fixture
def sqlite_engine(sqlite_template: PortalTemplate, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(_copy_sqlite(sqlite_template, tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture
def world(engine: Engine, request: pytest.FixtureRequest) -> World:
    kind = "sqlite" if engine.dialect.name == "sqlite" else "postgres"
    template: PortalTemplate = request.getfixturevalue(f"{kind}_template")
    return replace(template.world, engine=engine)


@pytest.fixture
def sqlite_world(sqlite_engine: Engine, sqlite_template: PortalTemplate) -> World:
    return replace(sqlite_template.world, engine=sqlite_engine)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[EmulatedFleet]:
    running = EmulatedFleet.start(tmp_path)
    yield running
    running.stop()
