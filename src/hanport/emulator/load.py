"""Seeded household load profiles: what flows through the meter, hour by hour.

Pure and reproducible: the same seed gives the same watts for the same hour, whatever hour the
simulation started at (every hour and every day draws from its own generator, seeded by the
household seed and the hour/day number). An hour is produced in one go (:meth:`HouseholdLoad.hour`)
so the per-sample work stays a few arithmetic operations: a year of 10-second samples must be
generated in well under a minute.

Components (all in watts, per phase):
- base load (fridge, standby, lighting) with a daily rhythm and noise;
- electric heating following the outdoor temperature (season, hour, day-to-day weather);
- cooking peaks around breakfast and dinner;
- a water heater running in blocks after the morning and evening use;
- an electric car charging on some nights (when the household has one);
- solar production for prosumers: zero at night, highest around solar noon, cloudy days.
The meter sees the net of consumption and production per phase.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["OSLO", "HourLoad", "HouseholdLoad", "HouseholdTraits"]

OSLO = ZoneInfo("Europe/Oslo")

_LATITUDE_RAD = math.radians(59.9)
# Solar noon in Oslo is about 43 minutes before 12:00 UTC (longitude 10.75° E).
_SOLAR_TIME_OFFSET_H = 10.75 / 15


@dataclass(frozen=True, slots=True)
class HouseholdTraits:
    """What kind of household a seed gives: fixed for the life of the meter."""

    base_w: float
    heating_w_per_kelvin: float
    has_ev: bool
    ev_w: float
    water_heater_w: float
    solar_peak_w: float
    capacitive_var: float
    phase_weights: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class HourLoad:
    """One hour of samples: per phase, lists of `slots` values (net W, var, V)."""

    active_w: tuple[list[float], ...]
    reactive_var: tuple[list[float], ...]
    voltage_v: tuple[list[float], ...]


@dataclass(frozen=True, slots=True)
class _Day:
    weather_offset_k: float
    clearness: float
    ev_start_h: float | None
    ev_hours: float
    voltage_offset_v: float


class HouseholdLoad:
    """A household's consumption (and production, for a prosumer) by seed.

    ``phases`` is 1 or 3. Positive active power is import, negative is export.
    """

    def __init__(self, seed: int, *, phases: int = 3, prosumer: bool = False) -> None:
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, not {phases!r}")
        self.seed = seed
        self.phases = phases
        self.prosumer = prosumer
        rng = random.Random(f"household:{seed}")
        # Draw every trait whatever the options, so a prosumer differs only by its panels.
        weights = [rng.uniform(0.6, 1.4) for _ in range(3)][:phases]
        total = sum(weights)
        heating_per_kelvin = rng.uniform(80.0, 220.0)
        has_ev = rng.random() < 0.5
        three_phase_ev = rng.random() < 0.5
        solar_peak_w = rng.uniform(4_000.0, 10_000.0)
        self.traits = HouseholdTraits(
            base_w=rng.uniform(150.0, 400.0),
            heating_w_per_kelvin=heating_per_kelvin if phases == 3 else heating_per_kelvin * 0.55,
            has_ev=has_ev,
            ev_w=(11_000.0 if three_phase_ev else 7_400.0) if phases == 3 else 3_600.0,
            water_heater_w=2_000.0 if rng.random() < 0.7 else 3_000.0,
            solar_peak_w=solar_peak_w if prosumer else 0.0,
            capacitive_var=rng.uniform(20.0, 60.0),
            phase_weights=tuple(w / total for w in weights),
        )
        self._days: dict[date, _Day] = {}

    # -- day- and hour-level decisions -------------------------------------------------------

    def _day(self, day: date) -> _Day:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        rng = random.Random(f"day:{self.seed}:{day.toordinal()}")
        ev_night = self.traits.has_ev and rng.random() < 0.35
        result = _Day(
            weather_offset_k=rng.gauss(0.0, 3.5),
            clearness=rng.choice((0.15, 0.35, 0.6, 0.85, 1.0)),
            ev_start_h=rng.choice((21.0, 22.0, 22.5, 23.0, 0.0 + 24.0)) if ev_night else None,
            ev_hours=rng.uniform(1.5, 5.0),
            voltage_offset_v=rng.uniform(-3.5, 4.5),
        )
        if len(self._days) > 64:  # long runs: keep the cache small
            self._days.clear()
        self._days[day] = result
        return result

    def outdoor_temperature_c(self, local: datetime) -> float:
        """Oslo-like outdoor temperature: season, time of day and the day's weather."""
        doy = local.timetuple().tm_yday
        seasonal = 6.5 - 10.5 * math.cos(2 * math.pi * (doy - 20) / 365.25)
        daily = -3.0 * math.cos(2 * math.pi * (local.hour - 3) / 24)
        return seasonal + daily + self._day(local.date()).weather_offset_k

    def _ev_fraction(self, local: datetime) -> tuple[float, float]:
        """(start, end) of EV charging within this local hour as fractions 0..1, or (0, 0)."""
        hour = local.hour
        windows: list[tuple[float, float]] = []
        today = self._day(local.date())
        if today.ev_start_h is not None:
            windows.append((today.ev_start_h, today.ev_start_h + today.ev_hours))
        yesterday = self._day(local.date() - timedelta(days=1))
        if yesterday.ev_start_h is not None:
            start = yesterday.ev_start_h - 24
            windows.append((start, start + yesterday.ev_hours))
        for start, end in windows:
            lo = max(start, hour)
            hi = min(end, hour + 1.0)
            if hi > lo:
                return lo - hour, hi - hour
        return 0.0, 0.0

    def _solar_w(self, utc: datetime, clearness: float) -> float:
        if not self.prosumer:
            return 0.0
        doy = utc.timetuple().tm_yday
        declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
        solar_hour = utc.hour + utc.minute / 60 + utc.second / 3600 + _SOLAR_TIME_OFFSET_H
        hour_angle = math.radians(15.0 * (solar_hour - 12.0))
        sin_elevation = math.sin(_LATITUDE_RAD) * math.sin(declination) + math.cos(
            _LATITUDE_RAD
        ) * math.cos(declination) * math.cos(hour_angle)
        if sin_elevation <= 0:
            return 0.0
        return float(self.traits.solar_peak_w * 0.85 * clearness * sin_elevation**1.2)

    # -- one hour of samples -------------------------------------------------------------------

    def hour(self, hour_start_utc: datetime, slot_seconds: float, slots: int) -> HourLoad:
        """Samples for the hour starting at ``hour_start_utc`` (aware, on the hour)."""
        local = hour_start_utc.astimezone(OSLO)
        hour_index = int(hour_start_utc.timestamp()) // 3600
        rng = random.Random(f"hour:{self.seed}:{hour_index}")
        traits = self.traits
        day = self._day(local.date())
        h = local.hour
        weekend = local.weekday() >= 5

        # Base load: low at night, higher in the morning and evening.
        rhythm = 0.7 if h < 6 else 1.3 if h in (7, 8, 18, 19, 20, 21) else 1.0
        base = traits.base_w * rhythm * rng.uniform(0.85, 1.15)
        # Heating: thermostat setback at night; none above 15 °C outside.
        setback = 0.75 if h < 6 or h >= 23 else 1.0
        heating = max(0.0, 15.0 - self.outdoor_temperature_c(local)) * traits.heating_w_per_kelvin
        heating *= setback * rng.uniform(0.9, 1.1)

        blocks: list[tuple[float, float, float, int]] = []  # (start, end, watts, phase)
        dinner = (12, 17) if weekend else (16, 17)
        if h in dinner and rng.random() < 0.75:
            start = rng.uniform(0.0, 0.6)
            blocks.append((start, start + rng.uniform(0.25, 0.6), rng.uniform(1500, 3500), 0))
        if h == (9 if weekend else 7) and rng.random() < 0.8:
            start = rng.uniform(0.0, 0.9)
            blocks.append((start, start + 0.05, 2000.0, 1 % self.phases))
        heater_chance = 0.6 if h in (6, 7, 20, 21) else 0.12
        if rng.random() < heater_chance:
            start = rng.uniform(0.0, 0.5)
            blocks.append((start, start + rng.uniform(0.15, 0.5), traits.water_heater_w, 2 % 3))
        ev_lo, ev_hi = self._ev_fraction(local)

        n = self.phases
        weights = traits.phase_weights
        active: list[list[float]] = [[0.0] * slots for _ in range(n)]
        reactive: list[list[float]] = [[0.0] * slots for _ in range(n)]
        voltage: list[list[float]] = [[0.0] * slots for _ in range(n)]
        solar_start = self._solar_w(hour_start_utc, day.clearness) / n
        solar_end = self._solar_w(hour_start_utc + timedelta(hours=1), day.clearness) / n
        solar_slots: list[float] | None = None
        if (solar_start == 0) != (solar_end == 0):
            # The sun rises or sets within the hour: a straight line from start to end would
            # produce with the sun below the horizon, so work out each slot (two hours a day).
            step = timedelta(seconds=slot_seconds)
            solar_slots = [
                self._solar_w(hour_start_utc + k * step, day.clearness) / n for k in range(slots)
            ]
        evening_dip = -2.5 if 16 <= h <= 20 else 2.0 if h < 6 else 0.0
        # The grid voltage drifts slowly from one day's level to the next day's.
        tomorrow = self._day(local.date() + timedelta(days=1)).voltage_offset_v
        drift = day.voltage_offset_v + (tomorrow - day.voltage_offset_v) * h / 24
        grid_v = 232.0 + drift + evening_dip
        random_ = rng.random
        cap = traits.capacitive_var / n
        # An 11 kW charger uses all three phases; a 7.4 kW (32 A) one only L1.
        three_phase_ev = n == 3 and traits.ev_w > 8000
        for phase in range(n):
            p_out, q_out, u_out = active[phase], reactive[phase], voltage[phase]
            w = weights[phase]
            base_p = base * w
            heat_p = heating * w
            phase_blocks = [(s, e, watts) for s, e, watts, ph in blocks if ph % n == phase]
            ev_here = traits.ev_w / 3 if three_phase_ev else traits.ev_w if phase == 0 else 0.0
            phase_v = grid_v + (phase - 1) * 0.8
            for k in range(slots):
                frac = k / slots
                noise = random_()
                p = base_p * (0.9 + 0.2 * noise) + heat_p
                q = base_p * 0.45 - cap
                for s, e, watts in phase_blocks:
                    if s <= frac < e:
                        p += watts
                        q += watts * 0.05
                if ev_lo <= frac < ev_hi:
                    p += ev_here
                    q += ev_here * 0.1
                if solar_slots is not None:
                    p -= solar_slots[k] * (0.97 + 0.06 * noise)
                elif solar_start or solar_end:
                    p -= (solar_start + (solar_end - solar_start) * frac) * (0.97 + 0.06 * noise)
                p_out[k] = p
                q_out[k] = q
                u = phase_v - p * 0.0006 + (random_() - 0.5) * 0.8
                u_out[k] = 225.0 if u < 225.0 else 240.0 if u > 240.0 else u
        return HourLoad(tuple(active), tuple(reactive), tuple(voltage))
