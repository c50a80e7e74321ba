"""The load-shed signal ("reduce load now") per meter, and the webhook that POSTs its changes.

The signal is decided on every push from the meter's /api/now object: on when this hour's
projection exceeds the hour's allowance (:func:`hanport.reader.energy.hour_allowance`), off
again only well below it (:func:`hanport.reader.energy.load_shed`). The allowance changes only
with the hour and with the last hour's booking, so it is looked up (a database query, made off
the event loop by the callers) once a minute per meter and at each new hour.

With a tariff whose capacity rule prices quarter-hours, the lookup answers a
:class:`PeriodLimit` for the running quarter-hour: the signal then projects that quarter-hour
from the pushes (its energy so far from the hour's, its end at the latest power) and looks the
limit up again at each new quarter-hour.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hanport.reader.energy import HOUR, MAX_POWER_HOLD_S, hour_start, load_shed, parse_local

__all__ = ["AllowanceLookup", "LoadShedSignal", "LoadShedWebhook", "PeriodLimit"]


@dataclass(frozen=True, slots=True)
class PeriodLimit:
    """The limit of a running period shorter than the hour (a quarter-hour rule's)."""

    limit_kwh: float | None
    period_s: int


#: (meter id, the meter's local time of its latest reading) → the hour's limit in kWh or None,
#: or the running quarter-hour's as a PeriodLimit
AllowanceLookup = Callable[[str, str], float | PeriodLimit | None]


def _period_key(at: str, period_s: int) -> str:
    """The running period of the meter's local time ``at``: its hour, or hour and quarter."""
    if period_s >= HOUR:
        return at[:13]
    return f"{at[:13]}/{int(at[14:16]) * 60 // period_s}"


@dataclass(slots=True)
class _Quarter:
    """What the signal remembers of a meter to project a period shorter than the hour."""

    start: int  # the running period's start
    baseline: float  # the hour's energy (``this_hour_kwh``) when the period began
    t: float  # the latest push: its time, the hour's energy then, its import power
    hour_kwh: float
    power_w: float


def _baseline(previous: _Quarter | None, start: int, t: float, kwh: float, watts: float) -> float:
    """The hour's energy at ``start``, the beginning of the period the push at ``t`` is in."""
    if previous is not None and previous.start == start:
        return previous.baseline
    if start == hour_start(t):
        return 0.0  # the hour's energy starts at zero with the hour
    if previous is not None and hour_start(previous.t) == hour_start(t) and previous.t < start:
        # the push before the boundary holds its power up to it
        held = min(start - previous.t, MAX_POWER_HOLD_S)
        return previous.hour_kwh + previous.power_w * held / 3.6e6
    # nothing seen earlier in the hour: as if the current power held since the period began
    return max(0.0, kwh - watts * (t - start) / 3.6e6)


class LoadShedSignal:
    """The signal of every meter, with the hysteresis it needs to remember."""

    def __init__(
        self,
        allowance_lookup: AllowanceLookup,
        *,
        refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowance_lookup = allowance_lookup
        self.refresh_s = refresh_s
        self.clock = clock
        # meter → (running period's key, when looked up, its limit, the period's seconds)
        self._limits: dict[str, tuple[str, float, float | None, int]] = {}
        self._on: dict[str, bool] = {}
        self._quarters: dict[str, _Quarter] = {}

    def _limit(self, meter_id: str, at: str) -> tuple[float | None, int]:
        cached = self._limits.get(meter_id)
        fresh = cached is not None and self.clock() - cached[1] <= self.refresh_s
        if cached is None or not fresh or cached[0] != _period_key(at, cached[3]):
            found = self.allowance_lookup(meter_id, at)
            limit, period_s = (
                (found.limit_kwh, found.period_s)
                if isinstance(found, PeriodLimit)
                else (found, HOUR)
            )
            cached = (_period_key(at, period_s), self.clock(), limit, period_s)
            self._limits[meter_id] = cached
        return cached[2], cached[3]

    def _short_period(
        self, meter_id: str, now: dict[str, Any], period_s: int
    ) -> tuple[float | None, float | None]:
        """(energy so far, projection) of the running period shorter than the hour, from the
        hour's energy; (None, None) without a live projection (stale)."""
        kwh, watts = now.get("this_hour_kwh"), now.get("active_power_import_w") or 0.0
        if not isinstance(kwh, int | float) or now.get("this_hour_projection_kwh") is None:
            return None, None
        t = parse_local(str(now["at"]))
        start = int(t // period_s) * period_s
        previous = self._quarters.get(meter_id)
        baseline = _baseline(previous, start, t, float(kwh), float(watts))
        self._quarters[meter_id] = _Quarter(start, baseline, t, float(kwh), float(watts))
        used = max(0.0, float(kwh) - baseline)
        return used, used + float(watts) * (start + period_s - t) / 3.6e6

    def evaluate(self, now: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(``hour_limit_kwh``, ``hour_left_kwh``, ``reduce_load`` for this /api/now object;
        whether ``reduce_load`` changed). Blocks on the allowance lookup now and then. With a
        quarter-hour rule the limit and what is left are the running quarter-hour's."""
        meter_id, at = str(now["meter_id"]), now.get("at")
        if not isinstance(at, str):
            return {}, False
        limit, period_s = self._limit(meter_id, at)
        used, projection = now.get("this_hour_kwh"), now.get("this_hour_projection_kwh")
        if period_s < HOUR:
            used, projection = self._short_period(meter_id, now, period_s)
        was_on = self._on.get(meter_id, False)
        on = load_shed(was_on, projection, limit)
        self._on[meter_id] = on
        left = limit - used if limit is not None and isinstance(used, int | float) else None
        fields = {
            "hour_limit_kwh": limit,
            "hour_left_kwh": None if left is None else round(left, 3),
            "reduce_load": on,
        }
        return fields, on != was_on


def _post_json(url: str, payload: dict[str, Any], timeout_s: float) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "hanport-reader"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        response.read()


class LoadShedWebhook:
    """POSTs ``{"meter_id", "reduce_load", "at", "hour_limit_kwh", "hour_left_kwh",
    "this_hour_projection_kwh"}`` to ``url`` whenever a meter's signal changes; a failed POST
    (no answer within ``timeout_s``, an error status) is tried ``attempts`` times in all."""

    def __init__(
        self,
        url: str,
        signal: LoadShedSignal,
        *,
        timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
    ) -> None:
        self.url = url
        self.signal = signal
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sent = 0
        self.failed = 0
        self.error: str | None = None
        self._latest: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()

    def update(self, now: dict[str, Any]) -> None:
        """Take a meter's /api/now object (a LiveState listener; never blocks)."""
        self._latest[str(now["meter_id"])] = now
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            latest, self._latest = self._latest, {}
            for now in latest.values():
                fields, changed = await asyncio.to_thread(self.signal.evaluate, now)
                if changed:
                    await self._send(
                        {
                            "meter_id": now["meter_id"],
                            "reduce_load": fields["reduce_load"],
                            "at": now.get("at"),
                            "hour_limit_kwh": fields["hour_limit_kwh"],
                            "hour_left_kwh": fields["hour_left_kwh"],
                            "this_hour_projection_kwh": now.get("this_hour_projection_kwh"),
                        }
                    )

    async def _send(self, payload: dict[str, Any]) -> None:
        for attempt in range(self.attempts):
            try:
                await asyncio.to_thread(_post_json, self.url, payload, self.timeout_s)
            except (OSError, urllib.error.URLError) as exc:
                self.error = str(exc)
                if attempt + 1 < self.attempts:
                    await asyncio.sleep(self.backoff_s * 2**attempt)
                continue
            self.sent += 1
            self.error = None
            return
        self.failed += 1
