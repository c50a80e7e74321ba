"""The customer's move: the move-out date a customer may give, and how the customer's notice
and the electricity market's event for the same move make one date. Pure: no I/O, no clock of
its own (callers pass `today`).

Theory of operation
-------------------
A move reaches the port service twice, in either order: the customer says "I am moving" (a
move-out date from today to 90 days ahead), and the market's change of customer arrives
(customer service or the API, naming the new customer when known). Both are one change of
customer, carried out once on its date: the contract ends at the start of that day (Oslo), the
port is closed, proxies and pending access requests end. The date is the one given by whichever
spoke last: the later of the two confirms (the same date) or adjusts (another date) the other,
and the customer may change or withdraw their notice until the date. A notice withdrawn while
the market has spoken leaves the market's date; withdrawn alone, nothing is left to carry out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from hanport.i18n import N_

__all__ = [
    "MAX_NOTICE_DAYS",
    "MoveDateRefused",
    "MoveSources",
    "Outcome",
    "effective_date",
    "may_still_change",
    "move_out_date",
    "outcome",
]

#: the move-out date is today or at most this many days ahead
MAX_NOTICE_DAYS = 90

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_NORWEGIAN = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


class MoveDateRefused(ValueError):
    """A move-out date that cannot be given; `message` is a catalog text, `params` its values."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.message = message
        self.params = params


def _parsed(text: str) -> date | None:
    text = text.strip()
    if found := _ISO.match(text):
        year, month, day = (int(part) for part in found.groups())
    elif found := _NORWEGIAN.match(text):
        day, month, year = (int(part) for part in found.groups())
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def move_out_date(text: str, today: date) -> date:
    """The move-out date from a form or the API (2026-12-24, or 24.12.2026 as Norwegians write
    it), from `today` to MAX_NOTICE_DAYS ahead; MoveDateRefused says what is wrong."""
    day = _parsed(text)
    if day is None:
        raise MoveDateRefused(N_("Give the move-out date as dd.mm.yyyy"))
    if day < today:
        raise MoveDateRefused(N_("The move-out date cannot be before today ({today})"), today=today)
    last = today + timedelta(days=MAX_NOTICE_DAYS)
    if day > last:
        raise MoveDateRefused(
            N_("The move-out date can be at most {days} days ahead (until {last})"),
            days=MAX_NOTICE_DAYS,
            last=last,
        )
    return day


@dataclass(frozen=True, slots=True)
class MoveSources:
    """What each side has said about one change of customer."""

    market_date: date | None = None
    market_at: datetime | None = None
    notice_date: date | None = None
    notice_at: datetime | None = None
    notice_withdrawn: bool = False

    @property
    def notice_live(self) -> bool:
        return self.notice_date is not None and not self.notice_withdrawn

    @property
    def from_market(self) -> bool:
        return self.market_date is not None


def effective_date(sources: MoveSources) -> date | None:
    """The date the change is carried out: of the side that spoke last (a withdrawn notice no
    longer speaks); None when neither speaks (a notice withdrawn with no market event)."""
    notice = sources.notice_date if sources.notice_live else None
    if notice is None:
        return sources.market_date
    if sources.market_date is None or sources.market_at is None or sources.notice_at is None:
        return notice
    return notice if sources.notice_at >= sources.market_at else sources.market_date


class Outcome(StrEnum):
    """What a notice or a market event did to the change of customer (in the audit)."""

    REGISTERED = "registered"  #: the first word on this move
    CONFIRMED = "confirmed"  #: the other side had said the same date
    ADJUSTED = "adjusted"  #: the date moved
    UNCHANGED = "unchanged"  #: the same side said the same again (a resubmit)
    WITHDRAWN = "withdrawn"  #: the customer withdrew their notice


def outcome(before: date | None, after: date | None, *, same_side: bool) -> Outcome:
    """The outcome of a word on the move, from the date before and after it."""
    if before is None:
        return Outcome.REGISTERED
    if before != after:
        return Outcome.ADJUSTED
    return Outcome.UNCHANGED if same_side else Outcome.CONFIRMED


def may_still_change(effective: date, today: date) -> bool:
    """A notice can be changed or withdrawn until the day itself: at its start the port
    closes."""
    return today < effective
