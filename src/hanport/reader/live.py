"""Live state: the latest values of each meter and this hour's pushes, kept in memory so the
SSE feed and MQTT can send the /api/now object within a second of the frame.

"Now" is the meter's time of its latest push (``Push.at``), not the reader's clock: this hour,
last hour and the projection follow the meter, also when it runs ahead of or behind real time.
How old that push is, though, is the reader's clock against its arrival (``age_s``): a reading
older than three of its meter's push intervals is ``stale`` and projects nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hanport.reader.energy import HOUR, PowerSample, hour_start, integrate_power_by_hour
from hanport.reader.fuse import FuseWatch
from hanport.reader.model import Push
from hanport.reader.storage.queries import derive_now

__all__ = ["STALE_AFTER_INTERVALS", "LiveState", "freshness"]

#: the hourly list arrives up to a minute after the hour; booked hours are looked up this often
LOOKUP_RETRY_S = 10.0
#: a reading older than this many push intervals of its meter is stale
STALE_AFTER_INTERVALS = 3
#: the push interval assumed until two pushes have been seen (Kamstrup's, the longest in use)
DEFAULT_PUSH_INTERVAL_S = 10.0
#: meters push every 2 s at the most often; closer arrivals are lists sent together
MIN_PUSH_INTERVAL_S = 1.0
#: how many arrival gaps the push interval is the median of
INTERVAL_WINDOW = 15

LastHourLookup = Callable[[str, int], tuple[float, float] | None]


def _watts(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


class PowerSamples:
    """An hour's (time, import W, export W) pushes of one meter, packed as three doubles.

    A reader keeps two hours of every meter's pushes; a fleet reader sees thousands of
    meters. As tuples of Python numbers a sample took about 135 bytes in small objects (measured:
    65 MB for 2,000 meters' two hours at 30 s; about 1 GB for 10,000 Kamstrup meters' 720
    pushes); packed it is 24 bytes in one block.
    A missing power is NaN inside and ``None`` outside.
    """

    __slots__ = ("_packed",)

    def __init__(self, samples: Iterable[PowerSample] = ()) -> None:
        self._packed = array("d")
        for at, import_w, export_w in samples:
            self.append(at, import_w, export_w)

    def append(self, at: float, import_w: Any, export_w: Any) -> None:
        self._packed.extend((at, _watts(import_w), _watts(export_w)))

    def __len__(self) -> int:
        return len(self._packed) // 3

    def __iter__(self) -> Iterator[PowerSample]:
        values = iter(self._packed)
        for at, import_w, export_w in zip(values, values, values, strict=True):
            yield (
                at,
                None if math.isnan(import_w) else import_w,
                None if math.isnan(export_w) else export_w,
            )

    def up_to(self, at: float) -> PowerSamples:
        """The samples at or before ``at``."""
        return PowerSamples(sample for sample in self if sample[0] <= at)


@dataclass(slots=True)
class _Meter:
    values: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0
    latest_at: float = 0.0
    hour: int = 0
    # (time, import W, export W) of the running hour and of the one before
    current: PowerSamples = field(default_factory=PowerSamples)
    previous: PowerSamples = field(default_factory=PowerSamples)
    last_hour: tuple[int, tuple[float, float] | None] | None = None
    now: dict[str, Any] | None = None
    dirty: bool = False
    last_lookup_at: float = 0.0
    last_estimate: tuple[float, float] | None = None
    clock_known: bool = False  # a push with the meter's own time has come
    # the two latest hourly lists: register hour → (import kWh, export kWh)
    registers: dict[int, tuple[float, float]] = field(default_factory=dict)
    # seconds between the latest arrivals: their median is the meter's push interval (the
    # hourly list between two frequent ones does not move it)
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=INTERVAL_WINDOW))

    def stale_after_s(self) -> float:
        interval = statistics.median(self.gaps) if self.gaps else DEFAULT_PUSH_INTERVAL_S
        return STALE_AFTER_INTERVALS * max(interval, MIN_PUSH_INTERVAL_S)


def freshness(
    now: dict[str, Any],
    received_at: float,
    stale_after_s: float,
    clock_now: float,
    *,
    live: bool = True,
) -> dict[str, Any]:
    """``now`` with ``age_s``, ``stale_after_s`` and ``stale`` as of ``clock_now``; a stale
    reading keeps its values but projects nothing (the power it saw may be long gone).
    Without a live source (``live`` false) nothing will follow it: stale at any age."""
    age = max(0.0, clock_now - received_at)
    stale = not live or age > stale_after_s
    result = {**now, "age_s": round(age, 1), "stale_after_s": stale_after_s, "stale": stale}
    if stale:
        result["this_hour_projection_kwh"] = None
    return result


class LiveState:
    """Fed by the hub; read by the API (/api/now, /api/live) and the MQTT publisher."""

    def __init__(
        self,
        last_hour_lookup: LastHourLookup | None = None,
        *,
        clock: Callable[[], float] = time.time,
        fuse: FuseWatch | None = None,
    ) -> None:
        self.clock = clock
        self.fuse = fuse  # the main fuse's headroom per phase, when its rating is configured
        self._meters: dict[str, _Meter] = {}
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self.last_hour_lookup = last_hour_lookup

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def update(self, push: Push) -> None:
        meter = self._meters.setdefault(push.meter_id, _Meter())
        meter.values.update({k: v for k, v in push.values.items() if v is not None})
        if meter.received_at and push.received_at > meter.received_at:
            meter.gaps.append(push.received_at - meter.received_at)
        meter.received_at = max(meter.received_at, push.received_at)
        if push.clock == "meter" and not meter.clock_known:
            meter.clock_known = True
            if meter.latest_at > push.at:
                # until now only the reader's clock placed this meter's pushes, and it ran
                # ahead of the meter's (a replay, a meter set back): the meter's time wins
                meter.latest_at = push.at
                meter.current = meter.current.up_to(push.at)
                meter.previous = meter.previous.up_to(push.at)
        meter.latest_at = max(meter.latest_at, push.at)
        if self.fuse is not None:
            self.fuse.observe(push.meter_id, push.at, push.values)
        hour = hour_start(meter.latest_at)
        if hour != meter.hour:
            meter.previous = meter.current if hour - meter.hour == HOUR else PowerSamples()
            meter.current = PowerSamples()
            meter.hour = hour
        register = push.values.get("active_energy_import_kwh")
        if push.register_hour is not None and isinstance(register, int | float):
            exported = push.values.get("active_energy_export_kwh")
            meter.registers[push.register_hour] = (
                float(register),
                float(exported) if isinstance(exported, int | float) else 0.0,
            )
            for old in sorted(meter.registers)[:-2]:
                del meter.registers[old]
        p_imp = push.values.get("active_power_import_w")
        p_exp = push.values.get("active_power_export_w")
        if (p_imp is not None or p_exp is not None) and push.at >= hour:
            meter.current.append(push.at, p_imp, p_exp)
        meter.dirty = True
        if not self._subscribers and not self._listeners:
            return  # derived lazily by now(): a fast replay with nobody watching stays cheap
        now = self._fresh(push.meter_id, meter)
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(now)  # a slow client misses updates, never blocks the reader
        for listener in self._listeners:
            listener(now)

    def _now_of(self, meter_id: str, meter: _Meter) -> dict[str, Any]:
        if meter.dirty or meter.now is None:
            meter.now = self._derive(meter_id, meter)
            meter.dirty = False
        return meter.now

    def _derive(self, meter_id: str, meter: _Meter) -> dict[str, Any]:
        current = meter.hour
        previous = current - HOUR
        if meter.last_hour is None or meter.last_hour[0] != previous:
            # a new hour: until it is booked, integrated power stands in for the last hour
            estimate = integrate_power_by_hour(meter.previous).get(previous)
            meter.last_estimate = (
                (round(estimate[0], 6), round(estimate[1], 6)) if estimate else None
            )
            meter.last_hour = (previous, None)
            meter.last_lookup_at = float("-inf")
        # the hourly lists that open and close the last hour, both seen here: their difference
        # is exact at once (as the writer books it), whatever the meter's pace against ours
        start, end = meter.registers.get(previous), meter.registers.get(current)
        if (
            meter.last_hour[1] is None
            and start is not None
            and end is not None
            and end[0] >= start[0]
            and end[1] >= start[1]  # a decrease: a replaced meter, the registers say nothing
        ):
            exact = (round(end[0] - start[0], 6), round(end[1] - start[1], 6))
            meter.last_hour = (previous, exact)
        # otherwise the database may know (booked before a restart, or from the registers):
        # the hourly list comes up to a minute late, so ask at most every few seconds (of wall
        # time: a fast replay must not turn every push into a query)
        if (
            meter.last_hour[1] is None
            and self.last_hour_lookup is not None
            and time.monotonic() - meter.last_lookup_at >= LOOKUP_RETRY_S
        ):
            meter.last_lookup_at = time.monotonic()
            meter.last_hour = (previous, self.last_hour_lookup(meter_id, previous))
        last = meter.last_hour[1] or meter.last_estimate
        return derive_now(
            dict(meter.values),
            meter.received_at,
            meter.latest_at,
            samples=meter.current,
            last_hour=last,
        )

    def _fresh(self, meter_id: str, meter: _Meter) -> dict[str, Any]:
        now = self._now_of(meter_id, meter)
        fresh = freshness(now, meter.received_at, meter.stale_after_s(), self.clock())
        if self.fuse is not None:
            fresh["fuse"] = self.fuse.status(meter_id, stale=fresh["stale"])
        return fresh

    def now(self, meter_id: str | None = None) -> list[dict[str, Any]]:
        """The /api/now objects of one meter or all, with their age as of the clock."""
        ids = [meter_id] if meter_id else sorted(self._meters)
        return [self._fresh(mid, m) for mid in ids if (m := self._meters.get(mid)) is not None]

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)
