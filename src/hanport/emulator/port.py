"""The HAN port's state machine: CLOSED (the meter sends nothing) or OPEN (it pushes).

All transitions live in :data:`TRANSITIONS`. Both commands are idempotent, as a head-end may
repeat a command it got no answer to; a command missing from the table is a programming error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

__all__ = ["TRANSITIONS", "PortCommand", "PortState", "PortStatus", "apply_command", "command_for"]


class PortState(StrEnum):
    #: the meter pushes nothing on its HAN port
    CLOSED = "closed"
    #: the meter pushes its lists on schedule
    OPEN = "open"


class PortCommand(StrEnum):
    OPEN = "open"
    CLOSE = "close"


#: state -> command -> next state
TRANSITIONS: dict[PortState, dict[PortCommand, PortState]] = {
    PortState.CLOSED: {PortCommand.OPEN: PortState.OPEN, PortCommand.CLOSE: PortState.CLOSED},
    PortState.OPEN: {PortCommand.OPEN: PortState.OPEN, PortCommand.CLOSE: PortState.CLOSED},
}


@dataclass(frozen=True, slots=True)
class PortStatus:
    """A meter's port: its state and when that state last changed (None: never since made)."""

    meter_id: str
    state: PortState
    changed_at: datetime | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "meter_id": self.meter_id,
            "port": self.state.value,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


def apply_command(status: PortStatus, command: PortCommand, now: datetime) -> PortStatus:
    """The status after ``command``; ``changed_at`` moves only when the state does."""
    new_state = TRANSITIONS[status.state][command]
    if new_state is status.state:
        return status
    return replace(status, state=new_state, changed_at=now)


def command_for(state: PortState) -> PortCommand:
    """The command that leads to ``state`` (the control API takes the wanted state)."""
    return PortCommand.OPEN if state is PortState.OPEN else PortCommand.CLOSE
