"""A clock a test moves on, for code that takes one (``JobRunner(clock=…)``), instead of
sleeping through the waits and backoffs the code measures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["MovableClock"]


class MovableClock:
    """The real time plus an offset that only grows: ``clock()`` is never behind the wall
    clock, so rows that code without a clock stamps with the real time are never in the
    future of the code under test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a movable clock only goes forward")
        self.offset += timedelta(seconds=seconds)
