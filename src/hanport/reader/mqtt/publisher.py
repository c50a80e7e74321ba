"""Publish meter state and HA discovery with aiomqtt; never holds up storage.

The outbox is the latest state per meter (bounded by the number of meters): while the broker is
away, newer states replace older ones, and when it returns the discovery and the latest state of
every meter go out again. With a price lookup every meter's state carries the hour's price
(``price_nok_per_kwh``) and goes out again when the hour changes (by the injected clock) and
when new prices arrive (:meth:`MqttPublisher.prices_changed`). Availability is the client's
last will (retained ``offline``) and, per meter, ``offline`` once its latest reading is stale
(older than ``stale_after_s`` of its /api/now object, by the injected clock) and ``online``
again with the next reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from hanport.reader.fuse import flat_fuse_fields
from hanport.reader.loadshed import AllowanceLookup, LoadShedSignal
from hanport.reader.mqtt.discovery import (
    availability_topic,
    discovery_message,
    meter_availability_topic,
    state_topic,
)

__all__ = ["MqttPublisher"]

_REGISTERS = (
    "active_energy_import_kwh",
    "active_energy_export_kwh",
    "reactive_energy_import_kvarh",
    "reactive_energy_export_kvarh",
)


def running_registers(now: dict[str, Any]) -> dict[str, float]:
    """Energy registers as Home Assistant should see them: the last hourly list plus the
    energy integrated since.

    The meter sends its registers once an hour, up to a minute after the hour. HA books a
    total_increasing sensor's increase to the hour in which the state changes, so publishing
    only the hourly list would book each hour's energy to the next hour. With the running
    value the hour's energy arrives within the hour; the exact register then corrects the
    small difference (and a running value above it is held, never lowered).
    """
    clock = now.get("meter_clock")
    pushed = now.get("at")  # the meter's time of the latest push
    if not (isinstance(clock, str) and isinstance(pushed, str)) or clock[:13] != pushed[:13]:
        return {}  # this hour's list has not come yet: keep what HA has
    out = {}
    for key, since in (
        ("active_energy_import_kwh", "this_hour_kwh"),
        ("active_energy_export_kwh", "this_hour_export_kwh"),
    ):
        register, extra = now.get(key), now.get(since)
        if isinstance(register, int | float) and isinstance(extra, int | float):
            out[key] = round(register + extra, 3)
    return out


class MqttPublisher:
    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        base_topic: str = "hanport",
        discovery_prefix: str = "homeassistant",
        client_id: str = "hanport-reader",
        discovery: bool = True,
        language: str = "nb",
        tariff_lookup: Callable[[str], dict[str, Any] | None] | None = None,
        tariff_interval_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        allowance_lookup: AllowanceLookup | None = None,
        price_lookup: Callable[[float], float | None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.base_topic = base_topic
        self.discovery_prefix = discovery_prefix
        self.client_id = client_id
        self.discovery = discovery
        self.language = language
        self.tariff_lookup = tariff_lookup
        self.tariff_interval_s = tariff_interval_s
        self.connected = False
        self.error: str | None = None
        self.published = 0
        self._states: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._announced: set[str] = set()
        self._highest: dict[tuple[str, str], float] = {}
        self._tariffs: dict[str, tuple[float, dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        self.clock = clock
        self.load_shed = LoadShedSignal(allowance_lookup) if allowance_lookup else None
        # meter → (clock time its reading turns stale, availability last published)
        self._fresh_until: dict[str, float] = {}
        self._available: dict[str, bool] = {}
        self._availability_dirty: set[str] = set()
        self.price_lookup = price_lookup
        self._prices: dict[int, float] = {}  # hour start → its price, as looked up
        self._price_hour: int | None = None  # the hour whose price the states last carried

    def status(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "broker": f"{self.host}:{self.port}",
            "connected": self.connected,
            "error": self.error,
            "published": self.published,
            "pending": len(self._dirty),
        }

    def update(self, now: dict[str, Any]) -> None:
        """Take a meter's /api/now object (called on every push)."""
        meter_id = str(now["meter_id"])
        state = dict(now)
        state.update(running_registers(now))
        state.update(flat_fuse_fields(now))
        for key in _REGISTERS:
            value = state.get(key)
            if value is None:
                continue
            # HA reads any drop of a total_increasing sensor as a new meter cycle: never send
            # 0 or a lower value than before
            highest = self._highest.get((meter_id, key), 0.0)
            if value <= 0 or value < highest:
                state[key] = highest or None
            else:
                self._highest[(meter_id, key)] = value
        self._states[meter_id] = state
        self._dirty.add(meter_id)
        age, stale_after = now.get("age_s"), now.get("stale_after_s")
        if isinstance(age, int | float) and isinstance(stale_after, int | float):
            self._fresh_until[meter_id] = self.clock() - age + stale_after
        self._set_available(meter_id, not now.get("stale", False))
        self._wake.set()

    def _set_available(self, meter_id: str, available: bool) -> None:
        if self._available.get(meter_id) != available:
            self._available[meter_id] = available
            self._availability_dirty.add(meter_id)

    def check_stale(self) -> float | None:
        """Mark meters whose reading has turned stale unavailable; the seconds until the next
        one would (None: none will without a new reading)."""
        now = self.clock()
        waits = []
        for meter_id, until in self._fresh_until.items():
            if now > until:
                self._set_available(meter_id, False)
            else:
                waits.append(until - now)
        return min(waits) if waits else None

    def prices_changed(self) -> None:
        """New prices are in the cache: every meter's state goes out again with the price."""
        self._prices.clear()
        self._dirty |= set(self._states)
        self._wake.set()

    def _hour_turned(self) -> float | None:
        """Mark every meter for publishing once the clock has entered another hour than the
        one whose price the states carry; the seconds to the next hour (None: no prices)."""
        if self.price_lookup is None:
            return None
        now = self.clock()
        if self._price_hour is not None and self._price_hour != int(now // 3600 * 3600):
            self._price_hour = None
            self._dirty |= set(self._states)
        return 3600 - now % 3600

    def _with_price(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.price_lookup is None:
            return state
        hour = int(self.clock() // 3600 * 3600)
        price = self._prices.get(hour)
        if price is None:
            try:
                price = self.price_lookup(hour)
            except Exception:
                price = None  # a database hiccup: unknown now, asked again next time
            if price is not None:
                self._prices = {hour: price}
        self._price_hour = hour
        return {**state, "price_nok_per_kwh": price}

    def recheck(self) -> None:
        """Check for stale readings at once (the clock has moved: tests, a resumed host)."""
        self._wake.set()

    def _with_tariff(self, meter_id: str, state: dict[str, Any]) -> dict[str, Any]:
        if self.tariff_lookup is None:
            return state
        cached = self._tariffs.get(meter_id)
        if cached is None or time.monotonic() - cached[0] > self.tariff_interval_s:
            tariff = self.tariff_lookup(meter_id)
            if tariff is None:
                return state
            cached = (time.monotonic(), tariff)
            self._tariffs[meter_id] = cached
        tariff = cached[1]
        return {
            **state,
            "capacity_average_kw": tariff.get("average_kw"),
            "capacity_headroom_kw": tariff.get("headroom_kw"),
            "capacity_step_price_nok": (tariff.get("step") or {}).get("price_nok"),
            # a stale reading's power may be long gone: no warning drawn from it
            "capacity_warning": bool(tariff.get("warning")) and not state.get("stale", False),
            # a tariff's own capacity rule (not Norway's steps): the warning is reduce_load's
            "capacity_by_tariff_rule": bool(tariff.get("by_own_rule")),
        }

    def _with_budget(self, meter_id: str, state: dict[str, Any]) -> dict[str, Any]:
        """The hour's limit, what is left of it and the load-shed signal (with hysteresis)."""
        if self.load_shed is None:
            return state
        fields, _changed = self.load_shed.evaluate(state)
        if state.get("capacity_by_tariff_rule"):
            fields["capacity_warning"] = fields.get("reduce_load", False)
        return {**state, **fields}

    async def run(self) -> None:
        """Connect, announce, publish; reconnect with backoff for ever (until cancelled)."""
        import aiomqtt

        avail = availability_topic(self.base_topic, self.client_id)
        delay = 0.5
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self.password,
                    identifier=self.client_id,
                    will=aiomqtt.Will(avail, "offline", qos=1, retain=True),
                ) as client:
                    await client.publish(avail, "online", qos=1, retain=True)
                    self.connected = True
                    self.error = None
                    delay = 0.5
                    self._announced.clear()
                    self._dirty |= set(self._states)
                    self._availability_dirty |= set(self._available)
                    try:
                        await self._publish_loop(client)
                    finally:
                        with contextlib.suppress(Exception):
                            await client.publish(avail, "offline", qos=1, retain=True)
            except aiomqtt.MqttError as exc:
                self.connected = False
                self.error = str(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                self.connected = False

    async def _publish_loop(self, client: Any) -> None:
        while True:
            # woken by a reading, new prices, when the next meter's reading turns stale or the
            # hour (and with it the price) changes
            waits = [w for w in (self.check_stale(), self._hour_turned()) if w is not None]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(waits) if waits else None)
            self._wake.clear()
            self.check_stale()
            self._hour_turned()
            dirty, self._dirty = self._dirty, set()
            try:
                for meter_id in sorted(dirty):
                    state = self._states[meter_id]
                    if self.discovery and meter_id not in self._announced:
                        topic, payload = discovery_message(
                            state,
                            base_topic=self.base_topic,
                            discovery_prefix=self.discovery_prefix,
                            client_id=self.client_id,
                            language=self.language,
                        )
                        await client.publish(topic, json.dumps(payload), qos=1, retain=True)
                        self._announced.add(meter_id)
                    state = await asyncio.to_thread(self._with_tariff, meter_id, state)
                    state = await asyncio.to_thread(self._with_budget, meter_id, state)
                    state = await asyncio.to_thread(self._with_price, state)
                    await client.publish(
                        state_topic(self.base_topic, meter_id),
                        json.dumps(state),
                        qos=0,
                        retain=True,
                    )
                    self.published += 1
                await self._publish_availability(client)
            except BaseException:
                self._dirty |= dirty  # publish them after the reconnect
                raise

    async def _publish_availability(self, client: Any) -> None:
        dirty, self._availability_dirty = self._availability_dirty, set()
        try:
            for meter_id in sorted(dirty):
                await client.publish(
                    meter_availability_topic(self.base_topic, meter_id),
                    "online" if self._available[meter_id] else "offline",
                    qos=1,
                    retain=True,
                )
        except BaseException:
            self._availability_dirty |= dirty
            raise
