"""PostgreSQL: readings partitioned by month (a fleet's readings; retention drops months).

The table is rebuilt as ``PARTITION BY RANGE (at)`` with one partition per UTC month
(``hanport.reader.storage.partitions``), the rows moved over in one statement, the id sequence
kept. A partitioned table's unique keys must hold the partition key, so the natural key
(meter, time, list) is the unique index and ``id`` stays a plain column from its sequence.
SQLite is left as it is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import time

from alembic import op
from sqlalchemy import text

from hanport.reader.storage import partitions

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD = "readings_before_0004"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text(f"ALTER TABLE readings RENAME TO {_OLD}"))
    conn.execute(text(f"ALTER TABLE {_OLD} RENAME CONSTRAINT readings_pkey TO {_OLD}_pkey"))
    conn.execute(text(f"ALTER INDEX ix_readings_meter_at_kind RENAME TO ix_{_OLD}_key"))
    conn.execute(text(f"ALTER INDEX ix_readings_at RENAME TO ix_{_OLD}_at"))
    conn.execute(
        text(f"CREATE TABLE readings (LIKE {_OLD} INCLUDING DEFAULTS) PARTITION BY RANGE (at)")
    )
    sequence = conn.execute(text(f"SELECT pg_get_serial_sequence('{_OLD}', 'id')")).scalar()
    if sequence:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY readings.id"))
    conn.execute(
        text("CREATE UNIQUE INDEX ix_readings_meter_at_kind ON readings (meter_id, at, list_kind)")
    )
    conn.execute(text("CREATE INDEX ix_readings_at ON readings (at)"))
    months = conn.execute(
        text(
            "SELECT DISTINCT CAST(extract(year FROM m) AS integer), "
            "CAST(extract(month FROM m) AS integer) "
            f"FROM (SELECT date_trunc('month', to_timestamp(at) AT TIME ZONE 'UTC') AS m "
            f"FROM {_OLD}) AS months"
        )
    ).all()
    partitions.ensure(conn, [(int(y), int(m)) for y, m in months], set())
    partitions.create_ahead(conn, time.time())
    conn.execute(text(f"INSERT INTO readings SELECT * FROM {_OLD}"))
    conn.execute(text(f"DROP TABLE {_OLD}"))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text(f"CREATE TABLE {_OLD} (LIKE readings INCLUDING DEFAULTS)"))
    conn.execute(text(f"INSERT INTO {_OLD} SELECT * FROM readings"))
    sequence = conn.execute(text("SELECT pg_get_serial_sequence('readings', 'id')")).scalar()
    if sequence:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {_OLD}.id"))
    conn.execute(text("DROP TABLE readings"))  # its partitions with it
    conn.execute(text(f"ALTER TABLE {_OLD} RENAME TO readings"))
    conn.execute(text("ALTER TABLE readings ADD CONSTRAINT readings_pkey PRIMARY KEY (id)"))
    conn.execute(
        text("CREATE UNIQUE INDEX ix_readings_meter_at_kind ON readings (meter_id, at, list_kind)")
    )
    conn.execute(text("CREATE INDEX ix_readings_at ON readings (at)"))
