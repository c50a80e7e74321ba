"""Grid tariffs as data: one TOML file per grid company and year under ``data/``, loaded and
checked here, with errors that name the file and the field.

Numbers in the files are the grid company's own charges excluding VAT and state levies
(consumption tax, Enova); those are dated public rules (see ``public.py``). Every file names its
source and the date its prices took effect (``source``: where the numbers were read; when that is
a data set transcribing the grid company, ``company_source`` names the company's own page);
numbers that could not be checked are listed under ``unverified``. A step table may stop at a
finite kW when the source lists no higher steps: asking for a charge above it is an error, not a
guess.

A company that changed its prices within the file's year lists each price list as a
``[[period]]`` (its ``valid_from``, optional ``valid_to`` = the next one's ``valid_from``, its own
``source``/``retrieved``/``unverified``, ``[period.capacity] steps`` and ``[period.energy]``);
the loader refuses periods out of order, with gaps or overlaps, or without a source. A file
without periods holds one price list. ``Tariff.on(day)`` picks the list in force on a local date
(before the first list: the first, the earliest the file knows); the Tariff's own fields are its
latest list.
"""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from hanport.reader.energy import CapacityStep

#: how the month's capacity figure is found from its hourly (or quarter-hourly) energies
CAPACITY_RULES = ("top_days", "top_in_window")
RESOLUTIONS = ("hour", "quarter_hour")


class TariffError(ValueError):
    """A tariff file or a tariff name is wrong; the message says which and why."""


@dataclass(frozen=True, slots=True)
class CapacityRule:
    """``top_days``: average of the ``count`` highest daily maxima on different days (Norway).
    ``top_in_window``: average of the ``count`` highest periods inside ``window_hours`` (local,
    [from, to)) on weekdays, holidays excluded when ``skip_holidays`` (Sweden)."""

    kind: str
    count: int
    resolution: str
    window_hours: tuple[int, int] = (0, 24)
    weekdays_only: bool = False
    skip_holidays: bool = False


@dataclass(frozen=True, slots=True)
class EnergyCharge:
    """Grid energy charge, NOK (or SEK)/kWh excl. VAT and levies; the low rate applies outside
    [day_from, day_to) local time, and all day on weekends/holidays when those flags are set."""

    day: float
    night: float
    day_from: int
    day_to: int
    night_on_weekends: bool
    night_on_holidays: bool


@dataclass(frozen=True, slots=True)
class TariffPeriod:
    """One price list of a tariff file, in force from ``valid_from`` until the next one."""

    valid_from: dt.date
    source: str
    retrieved: dt.date
    steps: tuple[CapacityStep, ...]
    per_kw_by_month: tuple[float, ...]
    energy: EnergyCharge | None
    fixed_per_month: float
    unverified: tuple[str, ...]
    company_source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "valid_from": self.valid_from.isoformat(),
            "source": self.source,
            "company_source": self.company_source or None,
            "retrieved": self.retrieved.isoformat(),
            "steps": [s.to_json() for s in self.steps],
            "unverified": list(self.unverified),
        }


@dataclass(frozen=True, slots=True)
class Tariff:
    key: str
    name: str
    company: str
    country: str
    currency: str
    valid_from: dt.date
    source: str
    retrieved: dt.date
    rule: CapacityRule
    steps: tuple[CapacityStep, ...]  # monthly price per step (Norwegian tariffs)
    per_kw_by_month: tuple[float, ...]  # price per kW, index 0 = January (Swedish tariffs)
    energy: EnergyCharge | None
    fixed_per_month: float
    unverified: tuple[str, ...]
    company_source: str = ""
    periods: tuple[TariffPeriod, ...] = ()  # every price list, oldest first; the last is above

    def period_on(self, day: dt.date) -> TariffPeriod:
        """The price list in force on the local date ``day`` (the first one before it began)."""
        chosen = self.periods[0]
        for period in self.periods:
            if period.valid_from <= day:
                chosen = period
        return chosen

    def on(self, day: dt.date) -> Tariff:
        """This tariff with the prices, source and date of the list in force on ``day``."""
        p = self.period_on(day)
        if p is self.periods[-1]:
            return self
        return replace(
            self,
            valid_from=p.valid_from,
            source=p.source,
            retrieved=p.retrieved,
            steps=p.steps,
            per_kw_by_month=p.per_kw_by_month,
            energy=p.energy,
            fixed_per_month=p.fixed_per_month,
            unverified=p.unverified,
            company_source=p.company_source,
        )

    def capacity_charge(self, kw: float, month: int, day: dt.date | None = None) -> float:
        """The month's capacity charge (excl. VAT) for the capacity figure ``kw``; with ``day``,
        by the price list in force that day, else by the latest."""
        if day is not None:
            return self.on(day).capacity_charge(kw, month)
        if self.per_kw_by_month:
            return round(self.per_kw_by_month[month - 1] * kw, 2)
        for step in self.steps:
            if step.contains(kw):
                return step.price_nok
        raise TariffError(
            f"{self.key}: the source lists no step for {kw:g} kW (see 'unverified' in its file)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "company": self.company,
            "country": self.country,
            "currency": self.currency,
            "valid_from": self.valid_from.isoformat(),
            "source": self.source,
            "company_source": self.company_source or None,
            "retrieved": self.retrieved.isoformat(),
            "capacity_rule": self.rule.kind,
            "resolution": self.rule.resolution,
            "steps": [s.to_json() for s in self.steps],
            "unverified": list(self.unverified),
            "periods": [p.to_json() for p in self.periods],
        }


def _data_dir() -> Any:
    return resources.files("hanport.reader.tariffs").joinpath("data")


def available() -> list[str]:
    """The names a user may give as ``[tariff] company``."""
    names = (p.name for p in _data_dir().iterdir())
    return sorted(n.removesuffix(".toml") for n in names if n.endswith(".toml"))


def load(key: str) -> Tariff:
    """The tariff ``key`` (e.g. ``"bkk-2024"``), checked; TariffError names what is wrong."""
    known = available()
    if key not in known:
        raise TariffError(f"unknown tariff {key!r}; known: {', '.join(known)}")
    text = _data_dir().joinpath(f"{key}.toml").read_text("utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(f"{key}.toml: {exc}") from None
    return parse(key, raw)


def _get(where: str, raw: dict[str, Any], field: str, kind: type, default: Any = None) -> Any:
    value = raw.get(field, default)
    number = kind is float and isinstance(value, int) and not isinstance(value, bool)
    if number:
        return float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TariffError(f"{where}: '{field}' is missing or not a {kind.__name__}")
    return value


def _steps(where: str, rows: Any) -> tuple[CapacityStep, ...]:
    if not isinstance(rows, list) or not rows:
        raise TariffError(f"{where}: capacity.steps must be a non-empty list")
    steps = []
    for row in rows:
        ok = isinstance(row, list) and len(row) == 3
        if not ok or not all(isinstance(x, int | float) for x in row):
            raise TariffError(f"{where}: step {row!r} must be [from_kw, to_kw, price]; -1 = open")
        lo, hi, price = (float(x) for x in row)
        steps.append(CapacityStep(lo, None if hi < 0 else hi, price))
    if steps[0].from_kw != 0:
        raise TariffError(f"{where}: the first step must start at 0 kW")
    for a, b in itertools.pairwise(steps):
        if a.to_kw is None or a.to_kw != b.from_kw or a.to_kw <= a.from_kw:
            raise TariffError(f"{where}: steps not contiguous at {a.to_kw} / {b.from_kw} kW")
    return tuple(steps)


def _rule(where: str, raw: dict[str, Any]) -> CapacityRule:
    kind = _get(where, raw, "rule", str)
    if kind not in CAPACITY_RULES:
        raise TariffError(f"{where}: capacity.rule {kind!r} is not one of {CAPACITY_RULES}")
    resolution = _get(where, raw, "resolution", str, "hour")
    if resolution not in RESOLUTIONS:
        raise TariffError(f"{where}: capacity.resolution must be one of {RESOLUTIONS}")
    window = raw.get("window_hours", [0, 24])
    if not (isinstance(window, list) and len(window) == 2 and 0 <= window[0] < window[1] <= 24):
        raise TariffError(
            f"{where}: capacity.window_hours must be [from, to], 0 <= from < to <= 24"
        )
    count = _get(where, raw, "count", int, 3)
    if count < 1:
        raise TariffError(f"{where}: capacity.count must be at least 1")
    return CapacityRule(
        kind,
        count,
        resolution,
        (int(window[0]), int(window[1])),
        _get(where, raw, "weekdays_only", bool, False),
        _get(where, raw, "skip_holidays", bool, False),
    )


def _energy(where: str, raw: Any) -> EnergyCharge | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TariffError(f"{where}: [energy] must be a table")
    charge = EnergyCharge(
        _get(where, raw, "day", float),
        _get(where, raw, "night", float),
        _get(where, raw, "day_from", int),
        _get(where, raw, "day_to", int),
        _get(where, raw, "night_on_weekends", bool),
        _get(where, raw, "night_on_holidays", bool),
    )
    if not 0 <= charge.day_from < charge.day_to <= 24:
        raise TariffError(f"{where}: energy needs 0 <= day_from < day_to <= 24")
    return charge


def _per_kw(where: str, raw: dict[str, Any]) -> tuple[float, ...]:
    months = raw.get("per_kw_by_month")
    if months is None:
        return ()
    if not (isinstance(months, list) and len(months) == 12):
        raise TariffError(f"{where}: capacity.per_kw_by_month needs 12 prices, January first")
    return tuple(float(m) for m in months)


def _period(where: str, raw: dict[str, Any]) -> TariffPeriod:
    capacity = raw.get("capacity", {})
    if not isinstance(capacity, dict):
        raise TariffError(f"{where}: [capacity] must be a table")
    per_kw = _per_kw(where, capacity)
    if per_kw and "steps" in capacity:
        raise TariffError(f"{where}: capacity has both steps and per_kw_by_month; pick one")
    source = _get(where, raw, "source", str)
    if not source.startswith("https://"):
        raise TariffError(f"{where}: 'source' must name where the numbers were read (https://)")
    return TariffPeriod(
        valid_from=_get(where, raw, "valid_from", dt.date),
        source=source,
        retrieved=_get(where, raw, "retrieved", dt.date),
        steps=() if per_kw else _steps(where, capacity.get("steps")),
        per_kw_by_month=per_kw,
        energy=_energy(where, raw.get("energy")),
        fixed_per_month=_get(where, raw, "fixed_per_month", float, 0.0),
        unverified=tuple(str(u) for u in raw.get("unverified", ())),
        company_source=_get(where, raw, "company_source", str, ""),
    )


def _periods(where: str, raw: dict[str, Any]) -> tuple[TariffPeriod, ...]:
    """The file's price lists, oldest first: ``[[period]]`` tables, or the file itself."""
    rows = raw.get("period")
    if rows is None:
        return (_period(where, raw),)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise TariffError(f"{where}: [[period]] must be a non-empty list of tables")
    for field in ("valid_from", "source", "retrieved", "energy", "unverified"):
        if field in raw:
            raise TariffError(f"{where}: '{field}' belongs in each [[period]], not at the top")
    periods = tuple(_period(f"{where} period {i + 1}", r) for i, r in enumerate(rows))
    for i, (a, b) in enumerate(itertools.pairwise(periods)):
        if b.valid_from <= a.valid_from:
            raise TariffError(
                f"{where}: periods out of order or overlapping: {b.valid_from} after {a.valid_from}"
            )
        end = _get(where, rows[i], "valid_to", dt.date, b.valid_from)
        if end != b.valid_from:
            kind = "gap" if end < b.valid_from else "overlap"
            raise TariffError(f"{where}: {kind} between {end} and the next period's {b.valid_from}")
    if "valid_to" in rows[-1]:
        raise TariffError(f"{where}: the last period runs on; it takes no valid_to")
    return periods


def parse(key: str, raw: dict[str, Any]) -> Tariff:
    """Check one tariff document (as read from TOML) and build the Tariff."""
    where = f"{key}.toml"
    capacity = _get(where, raw, "capacity", dict)
    rule = _rule(where, capacity)
    if "period" in raw and ("steps" in capacity or "per_kw_by_month" in capacity):
        raise TariffError(f"{where}: with [[period]], the steps belong in [period.capacity]")
    periods = _periods(where, raw)
    country = _get(where, raw, "country", str)
    if country not in ("NO", "SE"):
        raise TariffError(f"{where}: country must be NO or SE")
    latest = periods[-1]
    return Tariff(
        key=key,
        name=_get(where, raw, "name", str),
        company=_get(where, raw, "company", str),
        country=country,
        currency=_get(where, raw, "currency", str),
        valid_from=latest.valid_from,
        source=latest.source,
        retrieved=latest.retrieved,
        rule=rule,
        steps=latest.steps,
        per_kw_by_month=latest.per_kw_by_month,
        energy=latest.energy,
        fixed_per_month=latest.fixed_per_month,
        unverified=latest.unverified,
        company_source=latest.company_source,
        periods=periods,
    )
