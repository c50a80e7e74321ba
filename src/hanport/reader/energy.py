"""Pure energy arithmetic: hourly booking from registers, this hour, projection, capacity tariff.

No I/O and no clock: every function takes the times it needs. Times are POSIX seconds (UTC);
hours are aligned on whole UTC hours, which are also whole local hours in Europe/Oslo because
its offsets (+1/+2) are whole hours. Energies are kWh, powers are W on input.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_CAPACITY_STEPS",
    "HOUR",
    "LOCAL_TZ",
    "CapacityStep",
    "HourAllowance",
    "HourEnergy",
    "Peak",
    "PowerSample",
    "RegisterPoint",
    "TariffResult",
    "book_hours",
    "capacity_tariff",
    "hour_allowance",
    "hour_start",
    "integrate_power_by_hour",
    "load_shed",
    "local_day",
    "local_iso",
    "parse_local",
    "this_hour",
]

HOUR = 3600
LOCAL_TZ = ZoneInfo("Europe/Oslo")
#: a push older than this no longer says anything about the power now (Kamstrup pushes every
#: 10 s, Aidon/Kaifa every 2-2.5 s); beyond it a gap counts as zero, e.g. a power cut.
MAX_POWER_HOLD_S = 30.0
#: (time, import W, export W) of one push; a power the push did not carry is None
PowerSample = tuple[float, float | None, float | None]


@dataclass(frozen=True, slots=True)
class CapacityStep:
    """One step of the capacity tariff: ``from_kw <= average < to_kw`` costs ``price_nok``/month."""

    from_kw: float
    to_kw: float | None
    price_nok: float

    def contains(self, kw: float) -> bool:
        return self.from_kw <= kw and (self.to_kw is None or kw < self.to_kw)

    def to_json(self) -> dict[str, float | None]:
        return {"from_kw": self.from_kw, "to_kw": self.to_kw, "price_nok": self.price_nok}


#: a tariff's capacity steps by the date each list took effect, oldest first
DatedSteps = tuple[tuple[dt.date, tuple[CapacityStep, ...]], ...]


def steps_on(
    day: dt.date, dated: DatedSteps, default: Sequence[CapacityStep]
) -> Sequence[CapacityStep]:
    """The steps in force on the local date ``day``: the latest list begun by then (the first
    before any began); ``default`` when there are no dated lists."""
    if not dated:
        return default
    chosen = dated[0][1]
    for valid_from, steps in dated:
        if valid_from <= day:
            chosen = steps
    return chosen


# Default step table: Hallingdal Energinett/HSEV "Tariffer privatpersoner fra 01.08.2022", monthly
# capacity charge in NOK including VAT (https://hsev.no/tariffer-privatpersoner-01-08-2022).
# It uses the same kW steps as Elvia and most Norwegian grid companies (0-2 … 75-100, 100+);
# prices change every year and differ per company, so set your own with `[tariff] steps` in the
# configuration file.
DEFAULT_CAPACITY_STEPS: tuple[CapacityStep, ...] = (
    CapacityStep(0, 2, 275),
    CapacityStep(2, 5, 375),
    CapacityStep(5, 10, 450),
    CapacityStep(10, 15, 525),
    CapacityStep(15, 20, 725),
    CapacityStep(20, 25, 1225),
    CapacityStep(25, 50, 2100),
    CapacityStep(50, 75, 3287),
    CapacityStep(75, 100, 4475),
    CapacityStep(100, None, 7252),
)


@dataclass(frozen=True, slots=True)
class RegisterPoint:
    """Cumulative registers read at an hour boundary ``at`` (POSIX seconds, whole hour)."""

    at: int
    import_kwh: float | None
    export_kwh: float | None


@dataclass(frozen=True, slots=True)
class HourEnergy:
    """Energy of the hour starting at ``start``; ``estimated`` when any part came from power."""

    start: int
    import_kwh: float
    export_kwh: float
    estimated: bool


def hour_start(t: float) -> int:
    return int(t // HOUR) * HOUR


def local_iso(t: float) -> str:
    """POSIX seconds → local ``YYYY-MM-DDTHH:MM:SS`` (Europe/Oslo)."""
    whole = math.floor(t)
    if round((t - whole) * 1e6) == 1_000_000:
        whole += 1  # datetime rounds to the microsecond first
    prefix = _local_hour_prefix(whole // HOUR)
    if prefix is None:
        return dt.datetime.fromtimestamp(t, LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S")
    minutes, seconds = divmod(whole % HOUR, 60)
    return f"{prefix}{minutes:02d}:{seconds:02d}"


@functools.lru_cache(maxsize=1 << 15)
def _local_hour_prefix(utc_hour: int) -> str | None:
    """``YYYY-MM-DDTHH:`` of a UTC hour in local time, when the hour maps onto one whole local
    hour (always in Europe: offsets are whole hours and change on the hour). The API formats
    thousands of times per request; the zone lookup per time was most of a month's /api/hours
    CPU (bench/reader_api.py), a year of hours is 8,760 entries."""
    first = dt.datetime.fromtimestamp(utc_hour * HOUR, LOCAL_TZ)
    last = dt.datetime.fromtimestamp(utc_hour * HOUR + HOUR - 1, LOCAL_TZ)
    if first.minute or first.second or first.utcoffset() != last.utcoffset():
        return None
    return first.strftime("%Y-%m-%dT%H:")


def local_day(t: float) -> str:
    return dt.datetime.fromtimestamp(t, LOCAL_TZ).strftime("%Y-%m-%d")


@functools.lru_cache(maxsize=8192)
def _hour_starts(prefix: str) -> tuple[float, float]:
    """``YYYY-MM-DDTHH`` → POSIX start of that local hour, first and second occurrence."""
    naive = dt.datetime.fromisoformat(prefix + ":00:00")
    return (
        naive.replace(tzinfo=LOCAL_TZ, fold=0).timestamp(),
        naive.replace(tzinfo=LOCAL_TZ, fold=1).timestamp(),
    )


def parse_local(text: str, *, not_before: float | None = None) -> float:
    """Local ``YYYY-MM-DDTHH:MM:SS`` (as meters send it) → POSIX seconds.

    In the autumn the hour 02:00-03:00 happens twice; meters send local time without saying
    which. ``not_before`` (the previous timestamp of the same meter) picks the second one
    when the first would go back in time.
    """
    if len(text) == 19 and text[13] == ":" and text[16] == ":":
        # fast path for the meters' own format: one zone lookup per hour, not per push
        try:
            first_hour, second_hour = _hour_starts(text[:13])
            offset = int(text[14:16]) * 60 + int(text[17:19])
        except ValueError:
            pass
        else:
            first = first_hour + offset
            if first_hour != second_hour and not_before is not None and first < not_before - 1800:
                second = second_hour + offset
                if second >= not_before - 1800:
                    return second
            return first
    naive = dt.datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive.timestamp()
    first = naive.replace(tzinfo=LOCAL_TZ, fold=0).timestamp()
    if not_before is not None and first < not_before - 1800:
        second = naive.replace(tzinfo=LOCAL_TZ, fold=1).timestamp()
        if second >= not_before - 1800:
            return second
    return first


def integrate_power_by_hour(
    samples: Iterable[PowerSample],
    *,
    max_hold_s: float = MAX_POWER_HOLD_S,
) -> dict[int, tuple[float, float]]:
    """Integrate (time, import W, export W) samples, sorted by time, into kWh per hour.

    Each sample's power holds until the next sample (at most ``max_hold_s``), split across
    hour boundaries so every slice is booked to the hour it belongs to.
    """
    result: dict[int, list[float]] = {}
    previous: tuple[float, float, float] | None = None

    def add(t0: float, t1: float, p_imp: float, p_exp: float) -> None:
        while t0 < t1:
            h = hour_start(t0)
            end = min(t1, h + HOUR)
            slot = result.setdefault(h, [0.0, 0.0])
            slot[0] += p_imp * (end - t0) / 3.6e6
            slot[1] += p_exp * (end - t0) / 3.6e6
            t0 = end

    for t, p_imp, p_exp in samples:
        if previous is not None:
            t_prev, imp_prev, exp_prev = previous
            add(t_prev, min(t, t_prev + max_hold_s), imp_prev, exp_prev)
        previous = (t, float(p_imp or 0.0), float(p_exp or 0.0))
        result.setdefault(hour_start(t), [0.0, 0.0])
    if previous is not None:
        # the last sample stands for the push interval that follows it, not for ever
        t_prev, imp_prev, exp_prev = previous
        add(t_prev, t_prev + min(max_hold_s, 10.0), imp_prev, exp_prev)
    return {h: (v[0], v[1]) for h, v in result.items()}


def _split(total: float, hours: Sequence[int], weights: Mapping[int, float]) -> dict[int, float]:
    weight_sum = sum(max(weights.get(h, 0.0), 0.0) for h in hours)
    if weight_sum <= 0:
        return {h: total / len(hours) for h in hours}
    return {h: total * max(weights.get(h, 0.0), 0.0) / weight_sum for h in hours}


def book_hours(
    registers: Sequence[RegisterPoint],
    power_kwh: Mapping[int, tuple[float, float]],
    hours: Iterable[int],
) -> list[HourEnergy]:
    """Book each hour in ``hours`` once, to the hour it belongs to.

    - Registers one hour apart: the exact difference (not estimated).
    - Registers further apart (a missing hourly list, power cut, reader restart): the exact
      total between them is split over the hours in proportion to the integrated power, so the
      next hour never gets the missed hour's energy; these hours are marked estimated.
    - No registers around the hour (yet): integrated power, estimated. Hours with neither
      registers nor power samples are not booked.
    """
    regs = sorted(registers, key=lambda r: r.at)
    booked: dict[int, HourEnergy] = {}
    for a, b in pairwise(regs):
        span = list(range(a.at, b.at, HOUR))
        if not span:
            continue
        totals: list[float | None] = []
        for key in ("import_kwh", "export_kwh"):
            ra, rb = getattr(a, key), getattr(b, key)
            # a decrease means a replaced or reset meter: the registers say nothing here
            totals.append(rb - ra if ra is not None and rb is not None and rb >= ra else None)
        if len(span) == 1 and totals[0] is not None:
            booked[a.at] = HourEnergy(a.at, round(totals[0], 6), round(totals[1] or 0.0, 6), False)
            continue
        imp = (
            _split(totals[0], span, {h: power_kwh.get(h, (0, 0))[0] for h in span})
            if totals[0] is not None
            else {h: power_kwh.get(h, (0.0, 0.0))[0] for h in span}
        )
        exp = (
            _split(totals[1], span, {h: power_kwh.get(h, (0, 0))[1] for h in span})
            if totals[1] is not None
            else {h: power_kwh.get(h, (0.0, 0.0))[1] for h in span}
        )
        for h in span:
            booked[h] = HourEnergy(h, round(imp[h], 6), round(exp[h], 6), True)
    result = []
    for h in sorted(set(hours)):
        if h in booked:
            result.append(booked[h])
        elif h in power_kwh:
            imp_kwh, exp_kwh = power_kwh[h]
            result.append(HourEnergy(h, round(imp_kwh, 6), round(exp_kwh, 6), True))
    return result


def this_hour(
    samples: Iterable[PowerSample],
    now: float,
    *,
    period_s: int = HOUR,
) -> tuple[float, float, float]:
    """(import kWh so far, projected import kWh for the whole hour, export kWh so far).

    ``samples`` are this hour's (time, import W, export W) pushes. The projection assumes the
    latest power holds until the end of the hour. ``period_s``: the same for a shorter period
    (a quarter-hour rule's), the one ``now`` lies in.
    """
    start = int(now // period_s) * period_s
    inside = [s for s in samples if start <= s[0] <= now]
    if not inside:
        return 0.0, 0.0, 0.0
    so_far_imp = so_far_exp = 0.0
    for (t0, p0, e0), (t1, _, _) in pairwise(inside):
        held = min(t1 - t0, MAX_POWER_HOLD_S)
        so_far_imp += (p0 or 0.0) * held / 3.6e6
        so_far_exp += (e0 or 0.0) * held / 3.6e6
    t_last, p_last, e_last = inside[-1]
    tail = min(now - t_last, MAX_POWER_HOLD_S)
    so_far_imp += (p_last or 0.0) * tail / 3.6e6
    so_far_exp += (e_last or 0.0) * tail / 3.6e6
    projection = so_far_imp + (p_last or 0.0) * (start + period_s - now) / 3.6e6
    return round(so_far_imp, 6), round(projection, 6), round(so_far_exp, 6)


@dataclass(frozen=True, slots=True)
class Peak:
    start: int
    kwh: float


@dataclass(frozen=True, slots=True)
class TariffResult:
    peaks: tuple[Peak, ...]
    average_kw: float
    step: CapacityStep
    next_step: CapacityStep | None
    headroom_kw: float | None
    warning: bool


def _top_days(hours: Iterable[tuple[int, float]]) -> list[Peak]:
    best_per_day: dict[str, Peak] = {}
    for start, kwh in hours:
        day = local_day(start)
        if day not in best_per_day or kwh > best_per_day[day].kwh:
            best_per_day[day] = Peak(start, kwh)
    return sorted(best_per_day.values(), key=lambda p: (-p.kwh, p.start))[:3]


def step_index(kw: float, steps: Sequence[CapacityStep]) -> int:
    for i, step in enumerate(steps):
        if step.contains(kw):
            return i
    return len(steps) - 1 if kw >= steps[-1].from_kw else 0


def capacity_tariff(
    hours: Iterable[tuple[int, float]],
    steps: Sequence[CapacityStep] = DEFAULT_CAPACITY_STEPS,
    *,
    projection: tuple[int, float] | None = None,
) -> TariffResult:
    """The month's capacity step (kapasitetsledd) from its hourly import energies.

    The average of the three highest hourly consumptions on three different days sets the step
    (with fewer days so far, the average of those there are). ``projection`` is (hour start,
    projected kWh) of the running hour: ``warning`` is true when it would raise the step.
    """
    hour_list = list(hours)
    peaks = _top_days(hour_list)
    average = round(sum(p.kwh for p in peaks) / len(peaks), 6) if peaks else 0.0
    index = step_index(average, steps)
    step = steps[index]
    next_step = steps[index + 1] if index + 1 < len(steps) else None
    headroom = round(step.to_kw - average, 6) if step.to_kw is not None else None
    warning = False
    if projection is not None:
        with_projection = [(s, k) for s, k in hour_list if s != projection[0]] + [projection]
        projected = _top_days(with_projection)
        projected_avg = sum(p.kwh for p in projected) / len(projected)
        warning = step_index(projected_avg, steps) > index
    return TariffResult(tuple(peaks), average, step, next_step, headroom, warning)


@dataclass(frozen=True, slots=True)
class HourAllowance:
    """How much the running hour may import: ``limit_kwh`` is where the month's step would rise
    (None on the top step: nothing can raise it); ``step`` is the step the month is on."""

    limit_kwh: float | None
    step: CapacityStep


def hour_allowance(
    hours: Iterable[tuple[int, float]],
    running_hour: int,
    steps: Sequence[CapacityStep] = DEFAULT_CAPACITY_STEPS,
) -> HourAllowance:
    """The most the hour starting at ``running_hour`` may import without raising the step.

    ``hours`` are the month's hours (start, import kWh) so far; the running hour's own entry, if
    any, is left out. The step is the average of the three highest daily maxima on different
    days. The running hour counts only as its day's maximum, and only if it beats that day's
    maximum so far: below that it changes nothing. Above it, it joins the best two other days
    (fewer early in the month), so the average stays below the step's upper bound while the
    hour stays below ``(n + 1) · to_kw − (sum of those n days)``.
    """
    complete = [(start, kwh) for start, kwh in hours if start != running_hour]
    peaks = _top_days(complete)
    average = sum(p.kwh for p in peaks) / len(peaks) if peaks else 0.0
    step = steps[step_index(average, steps)]
    if step.to_kw is None:
        return HourAllowance(None, step)
    today = local_day(running_hour)
    today_max = max((kwh for start, kwh in complete if local_day(start) == today), default=0.0)
    others = sorted(
        (p.kwh for p in _top_days((s, k) for s, k in complete if local_day(s) != today)),
        reverse=True,
    )[:2]
    bound = (len(others) + 1) * step.to_kw - sum(others)
    return HourAllowance(round(max(today_max, bound), 6), step)


#: the load-shed signal turns off only once the projection is this share below the limit, so a
#: projection hovering at the limit does not switch a water heater on and off with every push
LOAD_SHED_RELEASE = 0.95


def load_shed(was_on: bool, projection_kwh: float | None, limit_kwh: float | None) -> bool:
    """Whether to ask for less load now: on when the hour's projection exceeds its limit, off
    again below ``LOAD_SHED_RELEASE`` of it (hysteresis); off without a projection or limit."""
    if projection_kwh is None or limit_kwh is None:
        return False
    if was_on:
        return projection_kwh >= limit_kwh * LOAD_SHED_RELEASE
    return projection_kwh > limit_kwh
