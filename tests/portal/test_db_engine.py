"""The portal's connections: a single read on PostgreSQL goes without BEGIN and ROLLBACK, and
the pooled connection is back to transactions for the next user."""

from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, func, select

from hanport.portal.db.engine import read_once
from hanport.portal.db.schema import parties


@pytest.mark.both_databases
def test_a_single_read_opens_no_transaction_and_leaves_none_behind(engine: Engine) -> None:
    engine.pool.dispose()  # one pooled connection, handed out to both blocks below
    count = select(func.count()).select_from(parties)
    with read_once(engine) as conn:
        assert conn.execute(count).scalar_one() > 0
        if engine.dialect.name == "postgresql":
            assert conn.connection.dbapi_connection.info.transaction_status is (  # type: ignore[union-attr]
                TransactionStatus.IDLE
            )
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() > 0
        if engine.dialect.name == "postgresql":
            assert conn.connection.dbapi_connection.info.transaction_status is (  # type: ignore[union-attr]
                TransactionStatus.INTRANS
            )
