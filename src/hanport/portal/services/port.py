"""The HAN port's state as the port service keeps it, moved only through domain.port_states."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, ScalarSelect, bindparam, select, update

from hanport.portal.db.schema import port_states
from hanport.portal.domain.model import Action, PortState
from hanport.portal.domain.port_states import (
    VERIFYING_EVENTS,
    PortEvent,
    allowed_port_events,
    next_port_state,
)
from hanport.portal.services.tx import Tx

__all__ = ["move_port", "port_of", "port_state", "port_state_query", "restore_port"]


def port_state_query(mpid: str | ColumnElement[str]) -> ScalarSelect[str]:
    """The port's stored state as a scalar subquery, to read beside other columns (NULL: no
    row); `port_of` makes it a PortState. `mpid` may be a column (correlated) or parameter."""
    return (
        select(port_states.c.state).where(port_states.c.metering_point_id == mpid).scalar_subquery()
    )


def port_of(stored: str | None) -> PortState:
    """A stored port state; a point without a row has a closed port."""
    return PortState.CLOSED if stored is None else PortState(stored)


_PORT_STATE = select(port_state_query(bindparam("mpid")))


def port_state(conn: Connection, mpid: str) -> PortState:
    """The port's state; a point without a row has a closed port."""
    return port_of(conn.execute(_PORT_STATE, {"mpid": mpid}).scalar())


#: the port's move, built once: the new values come as parameters (the SET clause is made of the
#: columns given), the point as `mpid_key`
_MOVE_PORT = update(port_states).where(port_states.c.metering_point_id == bindparam("mpid_key"))


def move_port(
    tx: Tx,
    mpid: str,
    event: PortEvent,
    order_id: int | None,
    *,
    push_seen: bool = False,
    current: PortState | None = None,
) -> PortState:
    """Apply `event` to the point's port (IllegalPortTransition if the table has no such move).

    A read-back marks the state verified; a manual completion clears that mark, as it was not
    read back from the meter; other events leave it as it was. `current`: the port's state as
    the caller read it in this transaction under the point's lock (None: read it here).
    """
    before = port_state(tx.conn, mpid) if current is None else current
    new = next_port_state(before, event)
    values: dict[str, Any] = {
        "state": new.value,
        "since": tx.now,
        "last_order_id": order_id,
        "push_seen": push_seen,
    }
    if event in VERIFYING_EVENTS:
        values["verified_at"] = tx.now
    elif event in (PortEvent.SET_OPEN, PortEvent.SET_CLOSED):
        values["verified_at"] = None
    found = tx.conn.execute(_MOVE_PORT, {"mpid_key": mpid, **values}).rowcount
    if found == 0:
        tx.conn.execute(port_states.insert(), {"metering_point_id": mpid, **values})
    return new


def restore_port(tx: Tx, order: Row[Any]) -> None:
    """After a cancel or failure an OPENING or CLOSING port is back where it was before."""
    if PortEvent.ORDER_ENDED in allowed_port_events(port_state(tx.conn, order.metering_point_id)):
        move_port(tx, order.metering_point_id, PortEvent.ORDER_ENDED, order.id)


def ordered(action: Action) -> PortEvent:
    """The port event of placing an order for `action`."""
    return PortEvent.ORDER_OPEN if action is Action.OPEN else PortEvent.ORDER_CLOSE
