"""The load-shed signal ("reduce load now") per meter, and the webhook that POSTs its changes.

The signal is decided on every push from the meter's /api/now object: on when this hour's
projection exceeds the hour's allowance (:func:`hanport.reader.energy.hour_allowance`), off
again only well below it (:func:`hanport.reader.energy.load_shed`). The allowance changes only
with the hour and with the last hour's booking, so it is looked up (a database query, made off
the event loop by the callers) once a minute per meter and at each new hour.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from hanport.reader.energy import load_shed

__all__ = ["AllowanceLookup", "LoadShedSignal", "LoadShedWebhook"]

#: (meter id, the meter's local time of its latest reading) → the hour's limit in kWh or None
AllowanceLookup = Callable[[str, str], float | None]


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
        self._limits: dict[str, tuple[str, float, float | None]] = {}
        self._on: dict[str, bool] = {}

    def evaluate(self, now: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(``hour_limit_kwh``, ``hour_left_kwh``, ``reduce_load`` for this /api/now object;
        whether ``reduce_load`` changed). Blocks on the allowance lookup now and then."""
        meter_id, at = str(now["meter_id"]), now.get("at")
        if not isinstance(at, str):
            return {}, False
        cached = self._limits.get(meter_id)
        if cached is None or cached[0] != at[:13] or self.clock() - cached[1] > self.refresh_s:
            cached = (at[:13], self.clock(), self.allowance_lookup(meter_id, at))
            self._limits[meter_id] = cached
        limit = cached[2]
        was_on = self._on.get(meter_id, False)
        on = load_shed(was_on, now.get("this_hour_projection_kwh"), limit)
        self._on[meter_id] = on
        used = now.get("this_hour_kwh")
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
