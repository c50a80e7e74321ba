"""Timeline notes as data: what the port service notes on an order's timeline is stored as a
code with its values (a JSON object in order_events.note, a text column: no migration), so
each page words it in its own language (web.notes). What a person typed (customer service's
reason for an override) is stored as text and shown as typed.

Rows written before the codes hold English fragments; `parsed` recognises those the service
wrote and answers with the same codes, so old rows are worded like new ones.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["NOTE_CODES", "as_data", "cause_of_error", "coded", "parsed", "typed"]

#: the codes the port service writes, with the values each carries
NOTE_CODES: Final = {
    "submitted": ("channel", "access"),  # through which channel, allowed as (authz reason)
    "superseded_by": ("order",),
    "failure": ("cause",),  # a failure cause (orders.failure_cause) that needs field work
    "cancelled_by": ("by",),  # "staff" | "customer"
    "taken_over": ("order",),  # a newer order took over before the first push
    "done": ("push_seen",),
    "no_push": ("wait_s",),  # no data within wait_s seconds of the read-back
    "command_accepted": ("port",),
    "attempt_failed": ("cause", "attempts", "detail"),  # detail: the head-end's own words
    "retry": ("cause", "attempts", "next_s", "detail"),
    "gave_up": ("cause", "attempts"),
    "read_back": ("port", "pushes"),  # pushes: only for an open
}


def coded(code: str, **values: str | int | float | bool | None) -> str:
    """The stored note for `code` with its values."""
    return json.dumps({"code": code, **values}, separators=(",", ":"), ensure_ascii=False)


def typed(text: str) -> str:
    """The stored note for text a person typed ("" for none)."""
    return json.dumps({"text": text}, ensure_ascii=False) if text else ""


def as_data(note: str) -> Any:
    """The note as the audit entry's value: the object for a coded note, else the text."""
    found = _stored(note)
    return found if found is not None else note


def _stored(note: str) -> dict[str, Any] | None:
    if not note.startswith("{"):
        return None
    try:
        data = json.loads(note)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("code") or data.get("text"), str):
        return data
    return None


def cause_of_error(text: str) -> str:
    """The failure cause (orders.failure_cause) a head-end error's text tells of."""
    if re.search(r"read back \w+, expected", text):
        return "readback_mismatch"
    if "does not know meter" in text:
        return "meter_unknown_in_headend"
    if "does not answer" in text or "not reachable" in text:
        return "meter_no_answer"
    return "headend_error"


# the English notes written before the codes (2026-12), and the codes they stand for
_LEGACY: Final[list[tuple[re.Pattern[str], Any]]] = [
    (
        re.compile(r"(portal|api|backoffice|system); ([\w-]+)"),
        lambda m: {"code": "submitted", "channel": m[1], "access": m[2]},
    ),
    (re.compile(r"superseded by (\d+)"), lambda m: {"code": "superseded_by", "order": m[1]}),
    (
        re.compile(r"meter cannot run HAN; meter swap needed"),
        lambda m: {"code": "failure", "cause": "meter_not_han_capable"},
    ),
    (
        re.compile(r"cancelled by (customer service|customer)"),
        lambda m: {"code": "cancelled_by", "by": "staff" if m[1] != "customer" else "customer"},
    ),
    (
        re.compile(
            r"the read-back verified the port open; order (\d+) took over before the "
            r"meter's first push"
        ),
        lambda m: {"code": "taken_over", "order": m[1]},
    ),
    (
        re.compile(r"(data seen from the meter; )?done notice queued for the customer"),
        lambda m: {"code": "done", "push_seen": bool(m[1])},
    ),
    (
        re.compile(r"no data seen from the meter within ([\d.]+) s of the read-back; .*"),
        lambda m: {"code": "no_push", "wait_s": m[1]},
    ),
    (
        re.compile(r"head-end accepted: port (\w+)"),
        lambda m: {"code": "command_accepted", "port": m[1]},
    ),
    (
        re.compile(r"(\w+) after (\d+) attempts; handed to customer service"),
        lambda m: {"code": "gave_up", "cause": m[1], "attempts": int(m[2])},
    ),
    (
        re.compile(r"(.*); attempt (\d+), next in (\d+) s", re.DOTALL),
        lambda m: {
            "code": "retry",
            "cause": cause_of_error(m[1]),
            "attempts": int(m[2]),
            "next_s": m[3],
            "detail": m[1],
        },
    ),
    (
        re.compile(r"read back (\w+)(?:; (\d+) push\(es\) seen)?"),
        lambda m: {
            "code": "read_back",
            "port": m[1],
            "pushes": None if m[2] is None else int(m[2]),
        },
    ),
    (
        re.compile(
            r"(meter \S+ does not answer.*|head-end not reachable: .*|"
            r"head-end does not know meter .*|read back \w+, expected \w+)",
            re.DOTALL,
        ),
        lambda m: {"code": "attempt_failed", "cause": cause_of_error(m[1]), "detail": m[1]},
    ),
]


def parsed(note: str) -> dict[str, Any] | None:
    """The note's code and values ({"text": …} for typed text), or None for a stored text the
    service did not write (shown as it is)."""
    if not note:
        return None
    found = _stored(note)
    if found is not None:
        return found
    for pattern, values in _LEGACY:
        if (match := pattern.fullmatch(note)) is not None:
            data: dict[str, Any] = values(match)
            return data
    return None
