"""The HAN port as the port service knows it. Rule: every change of a port's state lives here.

Theory of operation
-------------------
A port starts CLOSED (no row yet means closed). Placing an order moves it to OPENING or
CLOSING at once, whatever it was: the newest order rules the port. The head-end's read-back
is the truth about the meter, so it sets OPEN or CLOSED from any state, and so does customer
service's manual completion (not read back, so not shown as verified). An order that ends
without being carried out (cancelled, failed) puts an OPENING or CLOSING port back where it
was before; any other state is left as it is.

    CLOSED ──order_open──▶ OPENING ──read_open──▶ OPEN ──order_close──▶ CLOSING
    CLOSING ──read_closed──▶ CLOSED
    OPENING ──order_ended──▶ CLOSED        CLOSING ──order_ended──▶ OPEN

UNKNOWN is what a head-end could not tell; only a read-back or a manual completion ends it.
"""

from __future__ import annotations

from enum import StrEnum

from hanport.portal.domain.model import PortState

__all__ = [
    "PORT_TRANSITIONS",
    "VERIFYING_EVENTS",
    "IllegalPortTransition",
    "PortEvent",
    "allowed_port_events",
    "next_port_state",
]


class PortEvent(StrEnum):
    ORDER_OPEN = "order_open"  #: an order to open the port was placed
    ORDER_CLOSE = "order_close"  #: an order to close the port was placed
    READ_OPEN = "read_open"  #: the head-end read the port back open
    READ_CLOSED = "read_closed"  #: the head-end read the port back closed
    SET_OPEN = "set_open"  #: customer service completed an open by hand
    SET_CLOSED = "set_closed"  #: customer service completed a close by hand
    ORDER_ENDED = "order_ended"  #: the ruling order was cancelled or failed, not carried out


P, E = PortState, PortEvent

#: events that set the port whatever it was: a new order, or what the meter really is
_FROM_ANY: dict[PortEvent, PortState] = {
    E.ORDER_OPEN: P.OPENING,
    E.ORDER_CLOSE: P.CLOSING,
    E.READ_OPEN: P.OPEN,
    E.READ_CLOSED: P.CLOSED,
    E.SET_OPEN: P.OPEN,
    E.SET_CLOSED: P.CLOSED,
}

#: {state: {event: next state}}. All transitions live here.
PORT_TRANSITIONS: dict[PortState, dict[PortEvent, PortState]] = {
    P.CLOSED: dict(_FROM_ANY),
    P.OPEN: dict(_FROM_ANY),
    P.OPENING: {**_FROM_ANY, E.ORDER_ENDED: P.CLOSED},
    P.CLOSING: {**_FROM_ANY, E.ORDER_ENDED: P.OPEN},
    P.UNKNOWN: dict(_FROM_ANY),
}

#: events after which the port state was read back from the meter (shown as verified)
VERIFYING_EVENTS = frozenset({E.READ_OPEN, E.READ_CLOSED})


class IllegalPortTransition(Exception):
    """An event that the port's current state does not allow."""

    def __init__(self, state: PortState, event: PortEvent) -> None:
        super().__init__(f"port in state {state.value!r} cannot take event {event.value!r}")
        self.state = state
        self.event = event


def next_port_state(state: PortState, event: PortEvent) -> PortState:
    """The port's state after `event`, or IllegalPortTransition."""
    try:
        return PORT_TRANSITIONS[state][event]
    except KeyError:
        raise IllegalPortTransition(state, event) from None


def allowed_port_events(state: PortState) -> frozenset[PortEvent]:
    return frozenset(PORT_TRANSITIONS[state])
