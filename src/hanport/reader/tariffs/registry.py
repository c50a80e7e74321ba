"""Grid tariffs as data: one TOML file per grid company and year under ``data/``, loaded and
checked here, with errors that name the file and the field.

Numbers in the files are the grid company's own charges excluding VAT and state levies
(consumption tax, Enova); those are dated public rules (see ``public.py``). Every file names its
source and the date its prices took effect (``source``: where the numbers were read; when that is
a data set transcribing the grid company, ``company_source`` names the company's own page);
numbers that could not be checked are listed under ``unverified``. A step table may stop at a
finite kW when the source lists no higher steps: asking for a charge above it is an error, not a
guess.
"""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from dataclasses import dataclass
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

    def capacity_charge(self, kw: float, month: int) -> float:
        """The month's capacity charge (excl. VAT) for the capacity figure ``kw``."""
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


def parse(key: str, raw: dict[str, Any]) -> Tariff:
    """Check one tariff document (as read from TOML) and build the Tariff."""
    where = f"{key}.toml"
    capacity = _get(where, raw, "capacity", dict)
    per_kw = _per_kw(where, capacity)
    if per_kw and "steps" in capacity:
        raise TariffError(f"{where}: capacity has both steps and per_kw_by_month; pick one")
    steps = () if per_kw else _steps(where, capacity.get("steps"))
    country = _get(where, raw, "country", str)
    if country not in ("NO", "SE"):
        raise TariffError(f"{where}: country must be NO or SE")
    return Tariff(
        key=key,
        name=_get(where, raw, "name", str),
        company=_get(where, raw, "company", str),
        country=country,
        currency=_get(where, raw, "currency", str),
        valid_from=_get(where, raw, "valid_from", dt.date),
        source=_get(where, raw, "source", str),
        retrieved=_get(where, raw, "retrieved", dt.date),
        rule=_rule(where, capacity),
        steps=steps,
        per_kw_by_month=per_kw,
        energy=_energy(where, raw.get("energy")),
        fixed_per_month=_get(where, raw, "fixed_per_month", float, 0.0),
        unverified=tuple(str(u) for u in raw.get("unverified", ())),
        company_source=_get(where, raw, "company_source", str, ""),
    )
