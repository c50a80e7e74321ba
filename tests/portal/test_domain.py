"""Pure domain: metering-point ids, the SLA clock, the order transition table."""

from __future__ import annotations

from datetime import datetime

import pytest

from hanport.portal.domain.gsrn import (
    InvalidMeteringPointId,
    gs1_check_digit,
    make_gsrn,
    validate_gsrn,
)
from hanport.portal.domain.order_states import (
    FINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    OrderEvent,
    OrderState,
    mermaid,
    next_state,
)
from hanport.portal.domain.sla import OSLO, add_working_days, is_working_day, sla_due


def test_gsrn_check_digit_matches_gs1_example() -> None:
    # weights 3,1,3,… from the right: 8*3 + 1*... computed by hand for serial 1 gives 8
    assert gs1_check_digit("70705750000000001") == 8
    assert validate_gsrn(make_gsrn(1)) == make_gsrn(1)
    assert validate_gsrn("707057500 00000001 8".replace(" ", "")) == "707057500000000018"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("70705750000000001", "18 digits"),
        ("7070575000000000x8", "18 digits"),
        ("707057600000000018", "start with 707057500"),
        ("707057500000000019", "check digit"),
    ],
)
def test_gsrn_rejections_say_why(text: str, why: str) -> None:
    with pytest.raises(InvalidMeteringPointId, match=why):
        validate_gsrn(text)


def test_working_days_skip_weekends_and_norwegian_holidays() -> None:
    assert not is_working_day(datetime(2026, 5, 17).date())  # Constitution Day
    assert not is_working_day(datetime(2026, 4, 2).date())  # Maundy Thursday
    assert is_working_day(datetime(2026, 4, 7).date())
    # Wednesday before Easter: Maundy Thursday, Good Friday and Easter Monday do not count
    start = datetime(2026, 4, 1, 10, 0, tzinfo=OSLO)  # Wednesday
    assert add_working_days(start, 3) == datetime(2026, 4, 9, 10, 0, tzinfo=OSLO)
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=OSLO)
    assert sla_due(friday) == datetime(2026, 12, 2, 15, 0, tzinfo=OSLO)


def test_order_on_a_saturday_gets_three_whole_working_days() -> None:
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=OSLO)
    due = sla_due(saturday)
    assert due.date() == datetime(2026, 12, 2).date()
    assert (due.hour, due.minute) == (23, 59)


def test_every_state_is_in_the_table_and_finals_have_no_exit() -> None:
    assert set(TRANSITIONS) == set(OrderState)
    assert {
        OrderState.COMPLETED,
        OrderState.FAILED,
        OrderState.CANCELLED,
        OrderState.SUPERSEDED,
    } == FINAL_STATES
    for targets in TRANSITIONS.values():
        assert set(targets.values()) <= set(OrderState)


def test_happy_path_and_illegal_moves() -> None:
    state = OrderState.VALIDATED
    for event in (OrderEvent.COMMAND_OK, OrderEvent.READBACK_OK, OrderEvent.CONFIRM):
        state = next_state(state, event)
    assert state is OrderState.COMPLETED
    with pytest.raises(IllegalTransition):
        next_state(OrderState.COMMAND_SENT, OrderEvent.CANCEL)  # too late to cancel
    with pytest.raises(IllegalTransition):
        next_state(OrderState.COMPLETED, OrderEvent.OVERRIDE_RETRY)


def test_every_non_final_state_can_reach_completed() -> None:
    for start in set(OrderState) - FINAL_STATES:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()].values():
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert OrderState.COMPLETED in seen, start


def test_state_diagram_is_drawn_from_the_table() -> None:
    diagram = mermaid()
    assert diagram.startswith("stateDiagram-v2")
    edges = sum(len(moves) for moves in TRANSITIONS.values())
    assert diagram.count(" --> ") == edges + 1 + len(FINAL_STATES)
    assert "escalated --> retrying: override_retry" in diagram


def test_the_port_table_covers_every_state_and_ending_an_order_goes_back() -> None:
    from hanport.portal.domain.model import PortState
    from hanport.portal.domain.port_states import (
        PORT_TRANSITIONS,
        IllegalPortTransition,
        PortEvent,
        next_port_state,
    )

    assert set(PORT_TRANSITIONS) == set(PortState)
    for state in PortState:  # a new order and the meter's read-back rule from any state
        assert next_port_state(state, PortEvent.ORDER_OPEN) is PortState.OPENING
        assert next_port_state(state, PortEvent.READ_CLOSED) is PortState.CLOSED
    assert next_port_state(PortState.OPENING, PortEvent.ORDER_ENDED) is PortState.CLOSED
    assert next_port_state(PortState.CLOSING, PortEvent.ORDER_ENDED) is PortState.OPEN
    with pytest.raises(IllegalPortTransition):
        next_port_state(PortState.OPEN, PortEvent.ORDER_ENDED)


def test_state_classes_come_from_the_table() -> None:
    from hanport.portal.domain.order_states import (
        ATTENTION_STATES,
        COMMAND_STATES,
        RUNNER_STATES,
        SUPERSEDABLE_STATES,
    )

    assert {
        OrderState.VALIDATED,
        OrderState.RETRYING,
        OrderState.ESCALATED,
        OrderState.NEEDS_FIELD_WORK,
    } == SUPERSEDABLE_STATES
    assert ATTENTION_STATES <= SUPERSEDABLE_STATES
    assert COMMAND_STATES <= RUNNER_STATES
    assert not RUNNER_STATES & (FINAL_STATES | ATTENTION_STATES)


def test_a_shipment_moves_only_along_its_methods_table() -> None:
    from hanport.portal.domain.model import ModuleOption
    from hanport.portal.domain.shipments import ShipmentState, may_move

    post, pickup = ModuleOption.POST, ModuleOption.PICKUP
    assert may_move(post, ShipmentState.REQUESTED, ShipmentState.SHIPPED)
    assert may_move(post, ShipmentState.SHIPPED, ShipmentState.SHIPPED)  # a new tracking ref
    assert not may_move(post, ShipmentState.REQUESTED, ShipmentState.DELIVERED)  # skips a step
    assert not may_move(post, ShipmentState.REQUESTED, ShipmentState.PICKED_UP)
    assert may_move(pickup, ShipmentState.REQUESTED, ShipmentState.PICKED_UP)
    assert not may_move(pickup, ShipmentState.PICKED_UP, ShipmentState.REQUESTED)  # no way back
