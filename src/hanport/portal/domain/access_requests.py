"""A provider's request for access to a metering point, and the customer's answer.

Theory of operation
-------------------
Like Elhub's consent, for the HAN port: a registered provider (an organisation, known by its
organisation number) asks for access to one metering point on behalf of its customer, with a
scope (view, or act = view and order open/close), a period of at most two years and a reason
the customer reads. The customer decides:

    PENDING ──approve──▶ APPROVED     (the power of attorney is created; it may be shorter
       │                               and narrower than asked: act → view, never view → act)
       ├──decline──▶ DECLINED
       ├──withdraw─▶ WITHDRAWN         (by the provider)
       ├──expire───▶ EXPIRED           (unanswered for the configured time; the job runner)
       └──end──────▶ ENDED             (the customer moved out before answering)

Every final state is final: a new question is a new request. What happens to the power of
attorney after approval (revocation, contract end) belongs to the proxy, not to the request.
This module is pure: no I/O, no clock of its own (callers pass `today`/`now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from hanport.i18n import N_

__all__ = [
    "FINAL_STATES",
    "MAX_PERIOD_DAYS",
    "MAX_REASON_LENGTH",
    "TRANSITIONS",
    "AccessEvent",
    "AccessRequestRefused",
    "AccessState",
    "IllegalAccessTransition",
    "RequestTerms",
    "Scope",
    "approved_terms",
    "is_expired",
    "next_access_state",
    "org_number_check_digit",
    "validate_org_number",
    "validate_request_terms",
]

#: a request's period is at most two years (730 days, counted inclusive of the first day)
MAX_PERIOD_DAYS = 730
#: the reason is shown to the customer on the page and in a mail: short, plain words
MAX_REASON_LENGTH = 500
#: a request cannot start further ahead than this (a provider asks for what it needs now)
MAX_START_AHEAD_DAYS = 90


class AccessState(StrEnum):
    PENDING = "pending"  #: waiting for the customer's answer
    APPROVED = "approved"  #: the customer said yes; a power of attorney exists
    DECLINED = "declined"  #: the customer said no
    WITHDRAWN = "withdrawn"  #: the provider took the request back before an answer
    EXPIRED = "expired"  #: no answer within the configured time
    ENDED = "ended"  #: the customer moved out (the contract ended) before answering


class AccessEvent(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"
    END = "end"


class Scope(StrEnum):
    VIEW = "view"  #: read the port state and the point
    ACT = "act"  #: view, and order the port opened or closed

    def covers(self, other: Scope) -> bool:
        """True when this scope allows everything `other` allows (act covers view)."""
        return self is Scope.ACT or other is Scope.VIEW


S, E = AccessState, AccessEvent

#: {state: {event: next state}}. All transitions of a request live here.
TRANSITIONS: dict[AccessState, dict[AccessEvent, AccessState]] = {
    S.PENDING: {
        E.APPROVE: S.APPROVED,
        E.DECLINE: S.DECLINED,
        E.WITHDRAW: S.WITHDRAWN,
        E.EXPIRE: S.EXPIRED,
        E.END: S.ENDED,
    },
    S.APPROVED: {},
    S.DECLINED: {},
    S.WITHDRAWN: {},
    S.EXPIRED: {},
    S.ENDED: {},
}

FINAL_STATES = frozenset(state for state, moves in TRANSITIONS.items() if not moves)


class IllegalAccessTransition(Exception):
    """An event the request's state does not allow (answered twice, withdrawn after approval…)."""

    code = "access_request_not_pending"

    def __init__(self, state: AccessState, event: AccessEvent) -> None:
        super().__init__(f"access request in state {state.value!r} cannot take {event.value!r}")
        self.state = state
        self.event = event


def next_access_state(state: AccessState, event: AccessEvent) -> AccessState:
    """The state after `event`, or IllegalAccessTransition."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalAccessTransition(state, event) from None


class AccessRequestRefused(ValueError):
    """Bad input for a provider or a request. `code` is stable (API error code, catalog key)."""

    def __init__(self, code: str, detail: str, **params: int) -> None:
        super().__init__(detail.format(**params))
        self.code = code
        self.detail = detail.format(**params)
        #: the catalog message (`{name}` placeholders) and its values, for a translated answer
        self.message = detail
        self.params = params


_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def org_number_check_digit(body: str) -> int | None:
    """Mod-11 check digit for the first eight digits of an organisation number (weights
    3,2,7,6,5,4,3,2); None when the remainder gives 10, a body no valid number has."""
    remainder = sum(int(d) * w for d, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    digit = (11 - remainder) % 11
    return None if digit == 10 else digit


def validate_org_number(text: str) -> str:
    """The organisation number as nine digits (spaces allowed in the input), or refused."""
    digits = text.replace(" ", "").strip()
    if not digits.isdigit() or len(digits) != 9:
        raise AccessRequestRefused("org_number_format", "the organisation number must be 9 digits")
    if digits[0] not in "89":
        raise AccessRequestRefused(
            "org_number_format", "a Norwegian organisation number starts with 8 or 9"
        )
    if org_number_check_digit(digits[:8]) != int(digits[8]):
        raise AccessRequestRefused(
            "org_number_check_digit", "the organisation number's check digit does not match"
        )
    return digits


@dataclass(frozen=True, slots=True)
class RequestTerms:
    """What is asked for, or what the customer granted: scope and an inclusive date period."""

    scope: Scope
    valid_from: date
    valid_to: date


def validate_request_terms(
    scope: str, valid_from: date, valid_to: date, reason: str, today: date
) -> tuple[RequestTerms, str]:
    """The provider's terms checked: a known scope, a period from today (at most 90 days ahead)
    of at most two years, and a non-empty reason within the length limit."""
    try:
        checked_scope = Scope(scope)
    except ValueError:
        raise AccessRequestRefused(
            "access_scope_unknown", N_("scope must be view or act")
        ) from None
    _check_period(valid_from, valid_to, today)
    reason = reason.strip()
    if not reason:
        raise AccessRequestRefused("access_reason_missing", N_("the reason is required"))
    if len(reason) > MAX_REASON_LENGTH:
        raise AccessRequestRefused(
            "access_reason_too_long",
            N_("the reason is at most {n} characters"),
            n=MAX_REASON_LENGTH,
        )
    return RequestTerms(checked_scope, valid_from, valid_to), reason


def _check_period(valid_from: date, valid_to: date, today: date) -> None:
    if valid_from < today:
        raise AccessRequestRefused(
            "access_period_invalid", N_("the period cannot start in the past")
        )
    if valid_from > today + timedelta(days=MAX_START_AHEAD_DAYS):
        raise AccessRequestRefused(
            "access_period_invalid",
            N_("the period must start within {n} days"),
            n=MAX_START_AHEAD_DAYS,
        )
    if valid_to < valid_from:
        raise AccessRequestRefused("access_period_invalid", N_("the period ends before it starts"))
    if (valid_to - valid_from).days + 1 > MAX_PERIOD_DAYS:
        raise AccessRequestRefused(
            "access_period_too_long",
            N_("the period is at most {n} days (two years)"),
            n=MAX_PERIOD_DAYS,
        )


def approved_terms(asked: RequestTerms, scope: Scope | None, valid_to: date | None) -> RequestTerms:
    """The terms the customer grants: the asked ones, optionally narrowed (act → view) and
    shortened (an earlier end, not before the start). Widening is refused."""
    granted_scope = asked.scope if scope is None else scope
    if not asked.scope.covers(granted_scope):
        raise AccessRequestRefused("access_scope_widened", N_("the scope can only be narrowed"))
    granted_to = asked.valid_to if valid_to is None else valid_to
    if granted_to > asked.valid_to:
        raise AccessRequestRefused("access_period_extended", N_("the period can only be shortened"))
    if granted_to < asked.valid_from:
        raise AccessRequestRefused("access_period_invalid", N_("the period ends before it starts"))
    return RequestTerms(granted_scope, asked.valid_from, granted_to)


def is_expired(created_at: datetime, now: datetime, expire_after: timedelta) -> bool:
    """True when a pending request created at `created_at` has waited out its answer time."""
    return now >= created_at + expire_after
