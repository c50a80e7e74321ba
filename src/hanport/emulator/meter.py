"""Pure meter model: push schedule per brand, measured values and energy registers.

No I/O and no clock: :meth:`MeterModel.pushes` walks simulated time and yields what the meter
pushes and when. Frames are made elsewhere (``frames.py``); the physics come from ``load.py``.

Time. The meter works in Norwegian local time, but every offset from UTC is a whole number of
hours, so "hh:mm:x0 local" and "hh:mm:x0 UTC" are the same instants and every local hour is a UTC
hour. The simulation therefore steps through UTC hours; a local day across a daylight-saving
change simply contains 23 or 25 of them, and so 23 or 25 hourly lists.

Schedule (one hour, offsets from hh:00:00):
- Kamstrup: list 1 (``instantaneous``) every 10 s at hh:mm:x0; list 2 (``hourly-with-energy``)
  additionally at hh:00:05 (configurable: firmwares differ, 05/25/35/55 are seen).
- Aidon: a push every 2.5 s: list 1 (``power-only``), every 4th one list 2 (``instantaneous``,
  on hh:mm:x0), and at hh:00:10 list 3 (``hourly-with-energy``) instead of that list 2; list 3's
  clock says hh:00:00, the hour its registers were read (every Norwegian sample shows that).
- Kaifa: the same with a push every 2 s (list 2 every 5th push).
Every push carries the power of the slot it belongs to, so there is exactly one power value per
slot; that stream of values held over their slot is what the registers integrate.

Energy. Registers count in exact integers (W x ms), and the hourly list reports them as they were
at hh:00:00, truncated to the register resolution (Kamstrup and Aidon 10 Wh, Kaifa 1 Wh). So the
difference between two hourly lists equals the sum over the hour of emitted power x slot length,
to within one register unit.

Restarts. :meth:`MeterModel.state` captures where a meter is (exact energies, the slot reached,
the last push made) and :meth:`MeterModel.resume` continues from it: the pushes after the restart
are exactly those an uninterrupted meter would have made. Time the emulator was down is counted
like any other time (a meter keeps measuring while nobody listens), and a meter never goes back.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from hanport.emulator.load import OSLO, HourLoad, HouseholdLoad
from hanport.protocol import register_step

__all__ = [
    "AIDON",
    "BRANDS",
    "KAIFA",
    "KAMSTRUP",
    "BrandSpec",
    "MeterModel",
    "MeterState",
    "Push",
    "Registers",
    "Sample",
    "hour_schedule",
]

INSTANTANEOUS = "instantaneous"
HOURLY = "hourly-with-energy"
POWER_ONLY = "power-only"

_MS_PER_HOUR = 3_600_000
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class BrandSpec:
    """What differs between the brands: cadence, resolution, line format and identities."""

    key: str
    manufacturer: str
    #: the shortest push interval; every push belongs to one slot of this length
    slot_ms: int
    #: a medium list (``instantaneous``) every this many slots
    medium_every: int
    #: default offset of the hourly list from hh:00:00
    hourly_offset_ms: int
    #: the hourly list replaces the push of its slot (Aidon, Kaifa) or comes in addition (Kamstrup)
    hourly_replaces: bool
    #: the list pushed in the other slots (Aidon and Kaifa list 1)
    short_kind: str | None
    #: 8N1 = 10 bits per character on the wire, 8E1 = 11
    bits_per_char: int
    meter_id_prefix: str
    #: meter type by (phases, three_wire)
    meter_types: dict[tuple[int, bool], str]
    #: what a 3-wire (IT grid) meter does with the object of phase 2: "omit" its current
    #: (Aidon) or send its voltage as 0 (Kaifa)
    three_wire_quirk: str
    #: the hourly list's clock is the hour its registers belong to (hh:00:00, Aidon) rather
    #: than the time of the push (Kamstrup hh:00:05, Kaifa hh:00:10), as real meters stamp it
    hourly_clock_at_hour: bool = False

    # Register resolutions come from the protocol core's list tables, the one place that knows
    # them: raw value = physical value × 10**decimals.
    @property
    def current_decimals(self) -> int:
        return -round(math.log10(register_step(self.manufacturer, "current_l1_a")))

    @property
    def voltage_decimals(self) -> int:
        return -round(math.log10(register_step(self.manufacturer, "voltage_l1_v")))

    @property
    def energy_wh_per_unit(self) -> int:
        return round(register_step(self.manufacturer, "active_energy_import_kwh") * 1000)

    @property
    def lists(self) -> tuple[str, ...]:
        kinds = (INSTANTANEOUS, HOURLY)
        return (self.short_kind, *kinds) if self.short_kind else kinds


KAMSTRUP = BrandSpec(
    key="kamstrup",
    manufacturer="Kamstrup",
    slot_ms=10_000,
    medium_every=1,
    hourly_offset_ms=5_000,
    hourly_replaces=False,
    short_kind=None,
    bits_per_char=10,
    meter_id_prefix="57065672",
    meter_types={
        (3, False): "6841131BN243101040",
        (3, True): "6841121BN243101040",
        (1, False): "6861111BN242101040",
    },
    three_wire_quirk="none",
)
AIDON = BrandSpec(
    key="aidon",
    manufacturer="Aidon",
    slot_ms=2_500,
    medium_every=4,
    hourly_offset_ms=10_000,
    hourly_replaces=True,
    short_kind=POWER_ONLY,
    bits_per_char=11,
    meter_id_prefix="7359992",
    meter_types={(3, False): "6534", (3, True): "6525", (1, False): "6515"},
    three_wire_quirk="omit-current-l2",
    hourly_clock_at_hour=True,
)
KAIFA = BrandSpec(
    key="kaifa",
    manufacturer="Kaifa",
    slot_ms=2_000,
    medium_every=5,
    hourly_offset_ms=10_000,
    hourly_replaces=True,
    short_kind=POWER_ONLY,
    bits_per_char=11,
    meter_id_prefix="6970631",
    meter_types={(3, False): "MA304H4", (3, True): "MA304H3E", (1, False): "MA105H2E"},
    three_wire_quirk="zero-voltage-l2",
)
BRANDS: dict[str, BrandSpec] = {spec.key: spec for spec in (KAMSTRUP, AIDON, KAIFA)}


HourSchedule = tuple[tuple[tuple[int, str], ...], ...]


def hour_schedule(spec: BrandSpec, hourly_offset_ms: int) -> HourSchedule:
    """Per slot of an hour, the pushes ``(offset_ms, list_kind)`` made in it, in order."""
    slots = _MS_PER_HOUR // spec.slot_ms
    if not 0 <= hourly_offset_ms < 60_000:
        raise ValueError("the hourly list must come within the first minute of the hour")
    hourly_slot = hourly_offset_ms // spec.slot_ms
    if spec.hourly_replaces and (
        hourly_offset_ms % (spec.slot_ms * spec.medium_every) != 0 or hourly_slot == 0
    ):
        raise ValueError(
            f"{spec.manufacturer}: the hourly list replaces a {spec.slot_ms * spec.medium_every}"
            " ms push, so its offset must be a non-zero multiple of that"
        )
    schedule: list[tuple[tuple[int, str], ...]] = []
    for slot in range(slots):
        at = slot * spec.slot_ms
        pushes: list[tuple[int, str]] = []
        if spec.hourly_replaces and slot == hourly_slot:
            pushes.append((at, HOURLY))
        elif slot % spec.medium_every == 0:
            pushes.append((at, INSTANTANEOUS))
        else:
            assert spec.short_kind is not None
            pushes.append((at, spec.short_kind))
        if not spec.hourly_replaces and slot == hourly_slot:
            pushes.append((hourly_offset_ms, HOURLY))  # after list 1 when they share a second
        schedule.append(tuple(pushes))
    return tuple(schedule)


#: line-to-line voltage phasors of a 230 V IT grid (delta), unit length: U12, U23, U31
_U12 = cmath.rect(1.0, math.radians(30))
_U23 = cmath.rect(1.0, math.radians(-90))
_U31 = cmath.rect(1.0, math.radians(150))


def _delta_line_currents(
    p12: float, q12: float, u12: float,
    p23: float, q23: float, u23: float,
    p31: float, q31: float, u31: float,
) -> tuple[float, float, float]:  # fmt: skip
    """Line currents (A) of a 3-wire meter whose loads sit between the lines (IT grid).

    The load profile's three "phases" are the branches L1-L2, L2-L3 and L3-L1, each at its
    line-to-line voltage. A line carries the difference of the two branch currents that meet
    at it, so a balanced load gives sqrt(3) x the branch current (P = sqrt(3) x U x I), and a
    heater between L1 and L3 loads L1 and L3 alone, as real IT-grid meters show.
    """
    # I = conj(S / U) for each branch; the phasors' angles put the branches 120 degrees apart
    i12 = (complex(p12, q12) / (u12 * _U12)).conjugate()
    i23 = (complex(p23, q23) / (u23 * _U23)).conjugate()
    i31 = (complex(p31, q31) / (u31 * _U31)).conjugate()
    return abs(i12 - i31), abs(i23 - i12), abs(i31 - i23)


class Sample(NamedTuple):
    """One slot's measurements as raw integers in the brand's resolution (None: no such phase)."""

    p_import: int
    p_export: int
    q_import: int
    q_export: int
    i_l1: int
    i_l2: int | None
    i_l3: int | None
    u_l1: int
    u_l2: int | None
    u_l3: int | None


class Registers(NamedTuple):
    """Cumulative registers in register units (Kamstrup/Aidon 10 Wh, Kaifa 1 Wh)."""

    active_import: int
    active_export: int
    reactive_import: int
    reactive_export: int


class Push(NamedTuple):
    """One message the meter pushes: when (UTC), which list, and what it carries.

    A named tuple rather than a frozen dataclass: a year is millions of them.
    """

    at: datetime
    list_kind: str
    sample: Sample
    registers: Registers | None = None
    #: the (UTC) hour the push belongs to
    hour: datetime | None = None


class MeterState(NamedTuple):
    """Where a meter has got to: enough to continue after a restart as if it had not stopped.

    Energies are exact (W x ms), not register units, so no fraction of a unit is lost across a
    restart and a state does not depend on the brand's register resolution.
    """

    #: UTC slot boundary: every slot before it is in ``energy_w_ms``, none after
    integrated_to: datetime
    #: active import, active export, reactive import, reactive export
    energy_w_ms: tuple[int, int, int, int]
    #: the energies at the start of ``integrated_to``'s hour (what its hourly list reports)
    hour_energy_w_ms: tuple[int, int, int, int]
    #: UTC time of the last push made (sent, or withheld by a closed port); None: none yet
    pushed_through: datetime | None
    extra_import_w: float = 0.0
    #: the next encrypted frame counts on from this (AES-GCM must never reuse a counter)
    frame_counter: int = 0


@dataclass
class MeterModel:
    """A meter on the wall: its load, registers and push schedule.

    ``extra_import_w`` adds load on top of the profile from the next slot on (the control
    interface sets it). Registers go on counting whether or not anyone receives the pushes.
    :meth:`state` and :meth:`resume` carry a meter across a restart of the emulator.
    """

    spec: BrandSpec
    load: HouseholdLoad
    phases: int = 3
    three_wire: bool = False
    hourly_offset_ms: int | None = None
    initial_registers: Registers = field(default_factory=lambda: Registers(0, 0, 0, 0))
    extra_import_w: float = 0.0
    _schedule: HourSchedule = field(init=False, repr=False)
    _offsets: tuple[tuple[tuple[timedelta, str], ...], ...] = field(init=False, repr=False)
    _accumulated: list[int] = field(init=False, repr=False)
    _scaled_fields: tuple[tuple[str, int, int], ...] = field(init=False, repr=False)
    _raw_fields: tuple[tuple[str, int], ...] = field(init=False, repr=False)
    #: position: slots of ``_hour_start`` before ``_slot`` are integrated (None: not started)
    _hour_start: datetime | None = field(default=None, init=False, repr=False)
    _slot: int = field(default=0, init=False, repr=False)
    _hour_energy: tuple[int, int, int, int] = field(default=(0, 0, 0, 0), init=False, repr=False)
    #: pushes at or before this were made before a restart
    _pushed_through: datetime | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, not {self.phases!r}")
        if self.three_wire and self.phases != 3:
            raise ValueError("a 3-wire meter has 3 phases")
        if self.load.phases != self.phases:
            raise ValueError("the load profile and the meter must have the same number of phases")
        if self.hourly_offset_ms is None:
            self.hourly_offset_ms = self.spec.hourly_offset_ms
        self._schedule = hour_schedule(self.spec, self.hourly_offset_ms)
        self._offsets = tuple(
            tuple((timedelta(milliseconds=ms), kind) for ms, kind in pushes)
            for pushes in self._schedule
        )
        unit = self.unit_w_ms
        self._accumulated = [value * unit for value in self.initial_registers]
        # Per-phase values of the medium and hourly lists: (key, index in Sample, scale),
        # worked out once, as ``values`` runs for every push.
        scaled: list[tuple[str, int, int]] = []
        for phase in range(self.phases):
            if not (
                phase == 1 and self.three_wire and self.spec.three_wire_quirk == "omit-current-l2"
            ):
                scaled.append(
                    (f"current_l{phase + 1}_a", 4 + phase, 10**self.spec.current_decimals)
                )
            scaled.append((f"voltage_l{phase + 1}_v", 7 + phase, 10**self.spec.voltage_decimals))
        self._scaled_fields = tuple(field for field in scaled if field[2] > 1)
        self._raw_fields = tuple((key, index) for key, index, scale in scaled if scale == 1)

    @property
    def unit_w_ms(self) -> int:
        """One register unit in W x ms (10 Wh = 36,000,000 W ms)."""
        return self.spec.energy_wh_per_unit * 3600 * 1000

    @property
    def meter_type(self) -> str:
        return self.spec.meter_types[(self.phases, self.three_wire)]

    @property
    def registers(self) -> Registers:
        return self._registers(self._accumulated)

    def _energy(self) -> tuple[int, int, int, int]:
        a, b, c, d = self._accumulated
        return (a, b, c, d)

    def _registers(self, energy_w_ms: Sequence[int]) -> Registers:
        unit = self.unit_w_ms
        a, b, c, d = energy_w_ms
        return Registers(a // unit, b // unit, c // unit, d // unit)

    def state(self, pushed_through: datetime | None) -> MeterState | None:
        """The meter's state once every push up to ``pushed_through`` has been made.

        Take it between two pushes of :meth:`pushes` (the generator integrates a slot when it
        is asked for the next push). None before the meter has started.
        """
        if self._hour_start is None:
            return None
        slot_ms = self.spec.slot_ms
        integrated_to = self._hour_start + timedelta(milliseconds=self._slot * slot_ms)
        energy = self._energy()
        on_the_hour = self._slot * slot_ms % _MS_PER_HOUR == 0
        return MeterState(
            integrated_to,
            energy,
            energy if on_the_hour else self._hour_energy,
            pushed_through,
            self.extra_import_w,
        )

    def resume(self, state: MeterState) -> None:
        """Continue from a saved state: the next :meth:`pushes` integrates on from it."""
        integrated_to = state.integrated_to.astimezone(UTC)
        hour_start = integrated_to.replace(minute=0, second=0, microsecond=0)
        offset_ms, rest = divmod(integrated_to - hour_start, timedelta(milliseconds=1))
        if rest or offset_ms % self.spec.slot_ms:
            raise ValueError(f"{integrated_to} is not on a {self.spec.slot_ms} ms slot boundary")
        self._accumulated = list(state.energy_w_ms)
        self._hour_start = hour_start
        self._slot = offset_ms // self.spec.slot_ms
        self._hour_energy = state.hour_energy_w_ms
        self._pushed_through = state.pushed_through
        self.extra_import_w = state.extra_import_w

    def pushes(self, start: datetime, end: datetime | None = None) -> Iterator[Push]:
        """Every push at or after ``start`` and before ``end`` (aware datetimes; no end: forever).

        Slots are integrated into the registers as they are generated; a model runs forward
        only, so call this once per meter. A resumed meter (:meth:`resume`) first integrates
        the time from its saved state to ``start`` without pushing, as a meter keeps counting
        while nobody listens, and makes no push it made before. Asked to start before its saved
        state, it continues from the saved state instead: its clock and registers never go back.
        """
        if start.tzinfo is None or (end is not None and end.tzinfo is None):
            raise ValueError("start and end must be timezone-aware")
        start = start.astimezone(UTC)
        slot = timedelta(milliseconds=self.spec.slot_ms)
        if self._hour_start is None:
            hour_start = start.replace(minute=0, second=0, microsecond=0)
            # The slot holding ``start`` counts whole: its power holds from its beginning.
            first_slot = (start - hour_start) // slot
            self._hour_energy = self._energy()
        else:
            hour_start, first_slot = self._hour_start, self._slot
            if self._pushed_through is not None:
                # Push times are whole milliseconds: "after" is "from 1 µs later".
                start = max(start, self._pushed_through + timedelta(microseconds=1))
            start = max(start, hour_start + first_slot * slot)
        hour_energy = self._hour_energy if first_slot else self._energy()
        while end is None or hour_start < end:
            self._hour_start, self._slot, self._hour_energy = hour_start, first_slot, hour_energy
            yield from self._hour(hour_start, first_slot, start, end, self._registers(hour_energy))
            hour_start += _HOUR
            first_slot = 0
            hour_energy = self._energy()

    def _hour(
        self,
        hour_start: datetime,
        first_slot: int,
        start: datetime,
        end: datetime | None,
        hour_registers: Registers,
    ) -> Iterator[Push]:
        spec = self.spec
        slots = len(self._schedule)
        if first_slot >= slots:
            return
        load = self.load.hour(hour_start, spec.slot_ms / 1000, slots)
        samples = self._samples(load, first_slot)
        accumulated = self._accumulated
        slot_ms = spec.slot_ms
        offsets = self._offsets
        new_push = tuple.__new__  # skips NamedTuple's Python-level __new__
        if hour_start + _HOUR <= start:
            # An hour wholly before ``start`` (a resumed meter catching up): count, push nothing.
            for sample in samples:
                accumulated[0] += sample.p_import * slot_ms
                accumulated[1] += sample.p_export * slot_ms
                accumulated[2] += sample.q_import * slot_ms
                accumulated[3] += sample.q_export * slot_ms
            self._slot = slots
            return
        # Only the first and last hour need their pushes checked against start and end.
        check = hour_start < start or (end is not None and end < hour_start + _HOUR)
        for slot, sample in enumerate(samples, start=first_slot):
            for offset, kind in offsets[slot]:
                at = hour_start + offset
                if check:
                    if at < start:
                        continue
                    if end is not None and at >= end:
                        return
                yield new_push(
                    Push, (at, kind, sample, hour_registers if kind == HOURLY else None, hour_start)
                )
            # The slot's power holds until the next slot: integrate it once it has been pushed.
            accumulated[0] += sample.p_import * slot_ms
            accumulated[1] += sample.p_export * slot_ms
            accumulated[2] += sample.q_import * slot_ms
            accumulated[3] += sample.q_export * slot_ms
            self._slot = slot + 1

    def _samples(self, load: HourLoad, first_slot: int) -> Iterator[Sample]:
        """Raw samples for the slots of an hour, with the extra load read at each slot."""
        spec = self.spec
        i_scale = 10**spec.current_decimals
        u_scale = 10**spec.voltage_decimals
        hypot = math.hypot
        new_sample = tuple.__new__  # skips NamedTuple's Python-level __new__
        n = self.phases
        if n == 1:
            (p_l1,), (q_l1,), (u_l1,) = load.active_w, load.reactive_var, load.voltage_v
            for k in range(first_slot, len(p_l1)):
                p = p_l1[k] + self.extra_import_w
                q = q_l1[k]
                u = u_l1[k]
                pw = round(p)
                qv = round(q)
                yield new_sample(
                    Sample,
                    (
                        pw if pw > 0 else 0,
                        -pw if pw < 0 else 0,
                        qv if qv > 0 else 0,
                        -qv if qv < 0 else 0,
                        round(hypot(p, q) / u * i_scale),
                        None,
                        None,
                        round(u * u_scale),
                        None,
                        None,
                    ),
                )
            return
        pa, pb, pc = load.active_w
        qa, qb, qc = load.reactive_var
        ua, ub, uc = load.voltage_v
        zero_u2 = self.three_wire and spec.three_wire_quirk == "zero-voltage-l2"
        delta = self.three_wire
        for k in range(first_slot, len(pa)):
            extra = self.extra_import_w / 3
            p1, p2, p3 = pa[k] + extra, pb[k] + extra, pc[k] + extra
            q1, q2, q3 = qa[k], qb[k], qc[k]
            u1, u2, u3 = ua[k], ub[k], uc[k]
            pw = round(p1 + p2 + p3)
            qv = round(q1 + q2 + q3)
            if delta:
                i1, i2, i3 = _delta_line_currents(p1, q1, u1, p2, q2, u2, p3, q3, u3)
            else:
                i1, i2, i3 = hypot(p1, q1) / u1, hypot(p2, q2) / u2, hypot(p3, q3) / u3
            yield new_sample(
                Sample,
                (
                    pw if pw > 0 else 0,
                    -pw if pw < 0 else 0,
                    qv if qv > 0 else 0,
                    -qv if qv < 0 else 0,
                    round(i1 * i_scale),
                    round(i2 * i_scale),
                    round(i3 * i_scale),
                    round(u1 * u_scale),
                    0 if zero_u2 else round(u2 * u_scale),
                    round(u3 * u_scale),
                ),
            )

    def values(self, push: Push) -> dict[str, float | int | datetime]:
        """The push's values as decode-contract keys in physical units (what the encoder takes)."""
        sample = push.sample
        if push.list_kind == POWER_ONLY:
            return {"active_power_import_w": sample.p_import}
        values: dict[str, float | int | datetime] = {
            "active_power_import_w": sample.p_import,
            "active_power_export_w": sample.p_export,
            "reactive_power_import_var": sample.q_import,
            "reactive_power_export_var": sample.q_export,
        }
        for key, index, scale in self._scaled_fields:
            values[key] = sample[index] / scale  # type: ignore[operator]
        for key, index in self._raw_fields:
            values[key] = sample[index]  # type: ignore[assignment]
        if push.registers is not None:
            per_kwh = 1000 // self.spec.energy_wh_per_unit
            registers = push.registers
            values["active_energy_import_kwh"] = registers.active_import / per_kwh
            values["active_energy_export_kwh"] = registers.active_export / per_kwh
            values["reactive_energy_import_kvarh"] = registers.reactive_import / per_kwh
            values["reactive_energy_export_kvarh"] = registers.reactive_export / per_kwh
            if self.spec.hourly_clock_at_hour and push.hour is not None:
                # Aidon frames carry no header time: this clock is all a reader gets.
                values["meter_clock"] = push.hour.astimezone(OSLO)
        return values
