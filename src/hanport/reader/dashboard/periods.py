"""History periods: which day, month or year a history page shows, and its neighbours.

Pure date arithmetic, so navigation links are rendered by the server and work without scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from hanport.i18n import N_, translations

View = Literal["day", "month", "year"]
VIEWS: Final[tuple[View, ...]] = ("day", "month", "year")

#: the reader API endpoint that has one row per bucket of the view
ENDPOINTS: Final[dict[View, str]] = {"day": "hours", "month": "days", "year": "months"}


class PeriodError(ValueError):
    """A history query the dashboard cannot show (unknown view, malformed date). The message is
    an English "reader" catalog msgid filled from `params`; `text(lang)` translates it."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.message = message
        self.params = params

    def text(self, lang: str) -> str:
        return translations("reader", lang).gettext(self.message).format(**self.params)


@dataclass(frozen=True, slots=True)
class Period:
    view: View
    start: date  # first day inside the period
    end: date  # first day after the period
    previous_start: date  # the period of the same kind just before, for comparison
    previous_end: date

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.view]

    @property
    def anchor(self) -> date:
        return self.start

    @property
    def previous_anchor(self) -> date:
        return self.previous_start

    @property
    def next_anchor(self) -> date:
        return self.end


def _month_start(day: date, months_ahead: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + months_ahead
    return date(index // 12, index % 12 + 1, 1)


def period_for(view: str, anchor: date) -> Period:
    """The period of kind `view` that contains `anchor`."""
    if view == "day":
        return Period("day", anchor, anchor + timedelta(days=1), anchor - timedelta(days=1), anchor)
    if view == "month":
        start = _month_start(anchor)
        return Period("month", start, _month_start(anchor, 1), _month_start(anchor, -1), start)
    if view == "year":
        start = date(anchor.year, 1, 1)
        following, preceding = date(anchor.year + 1, 1, 1), date(anchor.year - 1, 1, 1)
        return Period("year", start, following, preceding, start)
    raise PeriodError(
        N_("Unknown view “{view}”; use one of {views}"), view=view, views=", ".join(VIEWS)
    )


def parse_anchor(text: str | None, today: date) -> date:
    """A `YYYY-MM-DD`, `YYYY-MM` or `YYYY` date from a query string; today when absent."""
    if not text:
        return today
    try:
        if len(text) == 4:
            return date(int(text), 1, 1)
        if len(text) == 7:
            return date.fromisoformat(text + "-01")
        return date.fromisoformat(text)
    except ValueError as error:
        raise PeriodError(N_("Cannot read the date “{text}”; use YYYY-MM-DD"), text=text) from error
