"""Reader storage: schema (SQLAlchemy Core), Alembic migrations, batched writer, queries."""
