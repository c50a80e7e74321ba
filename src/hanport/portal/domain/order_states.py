"""The HAN order state machine. Rule: every transition of an order lives in this table.

Theory of operation
-------------------
An order is *submitted* by the customer, a proxy, customer service or the system (customer
change). Intake checks eligibility in the same transaction, so an order is stored as VALIDATED
or not stored at all (a refusal is audited instead). The job runner then drives it:

    VALIDATED ──command_ok──▶ COMMAND_SENT ──readback_ok──▶ VERIFIED ──confirm──▶ COMPLETED
        │                        │  ▲                          └─confirm_without_push─▶ COMPLETED
        │ no_answer              │  └ readback_mismatch / readback_no_answer ─▶ RETRYING
        ▼                        ▼
    RETRYING ──command_ok──▶ COMMAND_SENT                     RETRYING ──give_up──▶ ESCALATED
        NEEDS_FIELD_WORK  (meter cannot run HAN: a meter swap, not a command)

VERIFIED means the head-end read the port back in the ordered state. A close is confirmed at
once. An open waits in VERIFIED (visible to the customer) for the meter's first push, then
`confirm`s; if none comes within the job runner's window it ends with `confirm_without_push`:
the read-back is the verification, and the timeline says plainly that no data was seen yet. A
push seen after that is recorded on the order and the port state; the order stays COMPLETED.
A new order for the point while an open waits for its push completes it the same way at once.

Customer service ends an escalated or field-work case with an override (a reason is required):
`override_retry` puts it back in the queue, `override_complete` records a manual completion and
`override_fail` closes it with a next step for the customer. The customer can cancel an order
until the command is sent; a newer order for the same metering point supersedes a waiting one.
A transition missing from the table raises IllegalTransition.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ATTENTION_STATES",
    "COMMAND_STATES",
    "FINAL_STATES",
    "RUNNER_STATES",
    "SUPERSEDABLE_STATES",
    "TRANSITIONS",
    "IllegalTransition",
    "OrderEvent",
    "OrderState",
    "allowed_events",
    "mermaid",
    "next_state",
]


class OrderState(StrEnum):
    VALIDATED = "validated"  #: intake passed; waiting for the job runner
    COMMAND_SENT = "command_sent"  #: head-end accepted the command; read-back pending
    RETRYING = "retrying"  #: head-end did not answer; the next attempt is scheduled
    VERIFIED = "verified"  #: the port state was read back; an open waits here for a push
    COMPLETED = "completed"  #: done and the customer told
    ESCALATED = "escalated"  #: automatic attempts used up; customer service owns it
    NEEDS_FIELD_WORK = "needs_field_work"  #: meter cannot run HAN; meter swap needed
    FAILED = "failed"  #: closed without success; the customer was told the next step
    CANCELLED = "cancelled"  #: withdrawn by the customer before the command was sent
    SUPERSEDED = "superseded"  #: replaced by a newer order for the same metering point


class OrderEvent(StrEnum):
    COMMAND_OK = "command_ok"
    NO_ANSWER = "no_answer"
    READBACK_OK = "readback_ok"
    READBACK_MISMATCH = "readback_mismatch"
    READBACK_NO_ANSWER = "readback_no_answer"
    CONFIRM = "confirm"  #: closed, or opened and a push seen
    CONFIRM_WITHOUT_PUSH = "confirm_without_push"  #: opened; no push within the window
    GIVE_UP = "give_up"
    FIELD_WORK = "field_work"
    CANCEL = "cancel"
    SUPERSEDE = "supersede"
    OVERRIDE_RETRY = "override_retry"
    OVERRIDE_COMPLETE = "override_complete"
    OVERRIDE_FAIL = "override_fail"


S, E = OrderState, OrderEvent

#: {state: {event: next state}}. All transitions live here.
TRANSITIONS: dict[OrderState, dict[OrderEvent, OrderState]] = {
    S.VALIDATED: {
        E.COMMAND_OK: S.COMMAND_SENT,
        E.NO_ANSWER: S.RETRYING,
        E.FIELD_WORK: S.NEEDS_FIELD_WORK,
        E.CANCEL: S.CANCELLED,
        E.SUPERSEDE: S.SUPERSEDED,
    },
    S.RETRYING: {
        E.COMMAND_OK: S.COMMAND_SENT,
        E.NO_ANSWER: S.RETRYING,
        E.GIVE_UP: S.ESCALATED,
        E.CANCEL: S.CANCELLED,
        E.SUPERSEDE: S.SUPERSEDED,
    },
    S.COMMAND_SENT: {
        E.READBACK_OK: S.VERIFIED,
        E.READBACK_MISMATCH: S.RETRYING,
        E.READBACK_NO_ANSWER: S.RETRYING,
    },
    S.VERIFIED: {E.CONFIRM: S.COMPLETED, E.CONFIRM_WITHOUT_PUSH: S.COMPLETED},
    S.ESCALATED: {
        E.OVERRIDE_RETRY: S.RETRYING,
        E.OVERRIDE_COMPLETE: S.COMPLETED,
        E.OVERRIDE_FAIL: S.FAILED,
        E.SUPERSEDE: S.SUPERSEDED,
    },
    S.NEEDS_FIELD_WORK: {
        E.OVERRIDE_RETRY: S.RETRYING,
        E.OVERRIDE_COMPLETE: S.COMPLETED,
        E.OVERRIDE_FAIL: S.FAILED,
        E.SUPERSEDE: S.SUPERSEDED,
    },
    S.COMPLETED: {},
    S.FAILED: {},
    S.CANCELLED: {},
    S.SUPERSEDED: {},
}

FINAL_STATES = frozenset(state for state, moves in TRANSITIONS.items() if not moves)

#: states customer service must look at
ATTENTION_STATES = frozenset({S.ESCALATED, S.NEEDS_FIELD_WORK})

#: not in the head-end's hands: a newer order for the point may supersede these (an escalated
#: or field-work case only by a different action or a move's close; see services.intake)
SUPERSEDABLE_STATES = frozenset(
    state for state, moves in TRANSITIONS.items() if E.SUPERSEDE in moves
)

#: the job runner sends the head-end a command for these
COMMAND_STATES = frozenset({S.VALIDATED, S.RETRYING})

#: the job runner drives these when they are due: a command to send, a read-back to make, or
#: (VERIFIED) an open's first push to wait for
RUNNER_STATES = COMMAND_STATES | {S.COMMAND_SENT, S.VERIFIED}


class IllegalTransition(Exception):
    """An event that the order's current state does not allow."""

    def __init__(self, state: OrderState, event: OrderEvent) -> None:
        super().__init__(f"order in state {state.value!r} cannot take event {event.value!r}")
        self.state = state
        self.event = event


def next_state(state: OrderState, event: OrderEvent) -> OrderState:
    """The state after `event`, or IllegalTransition."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(state, event) from None


def allowed_events(state: OrderState) -> frozenset[OrderEvent]:
    return frozenset(TRANSITIONS[state])


def mermaid() -> str:
    """The state diagram, drawn from the table (so the docs cannot drift from the code)."""
    lines = ["stateDiagram-v2", f"    [*] --> {OrderState.VALIDATED.value}: submitted"]
    for state, moves in TRANSITIONS.items():
        lines += [
            f"    {state.value} --> {target.value}: {event.value}"
            for event, target in moves.items()
        ]
    lines += [f"    {state.value} --> [*]" for state in OrderState if state in FINAL_STATES]
    return "\n".join(lines)
