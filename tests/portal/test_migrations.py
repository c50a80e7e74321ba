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
        assert context.get_current_revision() == "0002"
        differences = compare_metadata(context, metadata)
    assert differences == []
