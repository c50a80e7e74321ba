"""Norway's dated public rules (``public_data/no.toml``): VAT by zone, levies on grid energy,
electricity support (strømstøtte) and Norgespris; each rule applies on [from, to)."""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

from hanport.reader.tariffs.registry import TariffError


@dataclass(frozen=True, slots=True)
class Levies:
    consumption_tax: float
    enova: float


@dataclass(frozen=True, slots=True)
class Support:
    basis: str  # "hour" or "month" (the month's average spot price)
    share: float
    threshold: float
    cap_kwh: float


@dataclass(frozen=True, slots=True)
class Norgespris:
    nok_per_kwh: float
    cap_kwh: float
    cap_kwh_holiday_home: float


@dataclass(frozen=True, slots=True)
class PublicRules:
    vat_percent: float
    vat_by_zone: dict[str, float]
    levies: tuple[tuple[dt.date, dt.date, Levies], ...]
    support: tuple[tuple[dt.date, dt.date, Support], ...]
    norgespris: tuple[tuple[dt.date, dt.date, Norgespris], ...]

    def vat(self, zone: str) -> float:
        """VAT as a fraction (0.25) for households in ``zone``."""
        return self.vat_by_zone.get(zone, self.vat_percent) / 100

    def levies_on(self, day: dt.date) -> Levies | None:
        return _pick(self.levies, day)

    def support_on(self, day: dt.date) -> Support | None:
        return _pick(self.support, day)

    def norgespris_on(self, day: dt.date) -> Norgespris | None:
        return _pick(self.norgespris, day)

    def known_until(self) -> dt.date:
        """The first date no longer covered by every table (levies, support, Norgespris): from
        then the cost is unknown until the rules are updated."""
        return min(table[-1][1] for table in (self.levies, self.support, self.norgespris))


T = TypeVar("T")


def _pick(rules: tuple[tuple[dt.date, dt.date, T], ...], day: dt.date) -> T | None:
    for start, end, rule in rules:
        if start <= day < end:
            return rule
    return None


def _dated(raw: dict[str, Any], name: str, build: Any) -> tuple[Any, ...]:
    rows = []
    for i, row in enumerate(raw.get(name, [])):
        try:
            start, end = row["from"], row["to"]
            if not (isinstance(start, dt.date) and isinstance(end, dt.date) and start < end):
                raise TypeError
            rows.append((start, end, build(row)))
        except (KeyError, TypeError, ValueError):
            raise TariffError(f"public rules: {name}[{i}] is incomplete or wrong") from None
    rows.sort(key=lambda r: r[0])
    for a, b in itertools.pairwise(rows):
        if b[0] < a[1]:
            raise TariffError(f"public rules: {name} from {b[0]} overlaps the one before")
    return tuple(rows)


def parse_public(raw: dict[str, Any]) -> PublicRules:
    vat = raw.get("vat", {})
    return PublicRules(
        vat_percent=float(vat.get("percent", 25.0)),
        vat_by_zone={str(k): float(v) for k, v in vat.get("zone_percent", {}).items()},
        levies=_dated(
            raw, "levies", lambda r: Levies(float(r["consumption_tax"]), float(r["enova"]))
        ),
        support=_dated(
            raw,
            "support",
            lambda r: Support(
                _basis(r["basis"]), float(r["share"]), float(r["threshold"]), float(r["cap_kwh"])
            ),
        ),
        norgespris=_dated(
            raw,
            "norgespris",
            lambda r: Norgespris(
                float(r["nok_per_kwh"]), float(r["cap_kwh"]), float(r["cap_kwh_holiday_home"])
            ),
        ),
    )


def _basis(value: Any) -> str:
    if value not in ("hour", "month"):
        raise ValueError(value)
    return str(value)


@lru_cache(maxsize=1)
def norway() -> PublicRules:
    text = resources.files("hanport.reader.tariffs").joinpath("public_data", "no.toml")
    return parse_public(tomllib.loads(text.read_text("utf-8")))
