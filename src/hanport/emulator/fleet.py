"""Meter configurations: one from the command line, or a fleet from a TOML file.

A fleet file::

    [[meter]]                       # one meter; every key but brand is optional
    brand = "kamstrup"              # kamstrup | aidon | kaifa
    phases = 3
    three_wire = false
    prosumer = false
    seed = 7
    meter_id = "5706567274389702"
    metering_point_id = "707057500000000017"
    port = "open"                   # initial state; a saved state (--state-dir) wins
    output = "tcp://127.0.0.1:0"    # tcp://HOST:PORT (0 = a free port), pty, file:PATH, none
    list2_second = 5                # hourly list offset in seconds

    [[generate]]                    # many meters alike: seeds seed, seed+1, ...
    count = 200
    brand = "aidon"
    seed = 1000
    port = "closed"
    output = "none"

Identifiers not given are derived from the brand and seed: a meter id with the brand's GS1
prefix and a metering point id (GSRN) starting 707057500 with a valid check digit.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hanport.emulator.meter import BRANDS, hour_schedule
from hanport.emulator.port import PortState

__all__ = [
    "FleetError",
    "MeterConfig",
    "gs1_check_digit",
    "is_valid_gsrn",
    "load_fleet",
    "metering_point_id_for",
]

GSRN_PREFIX = "707057500"


class FleetError(ValueError):
    """A meter or fleet configuration that cannot work."""


def gs1_check_digit(digits: str) -> int:
    """GS1 mod-10 check digit: weights 3, 1, 3, … from the rightmost digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def is_valid_gsrn(value: str) -> bool:
    return len(value) == 18 and value.isdigit() and gs1_check_digit(value[:-1]) == int(value[-1])


def metering_point_id_for(brand: str, seed: int) -> str:
    body = GSRN_PREFIX + f"{random.Random(f'gsrn:{brand}:{seed}').randrange(10**8):08d}"
    return body + str(gs1_check_digit(body))


def meter_id_for(brand: str, seed: int) -> str:
    prefix = BRANDS[brand].meter_id_prefix
    digits = 16 - len(prefix)
    return prefix + f"{random.Random(f'meter:{brand}:{seed}').randrange(10**digits):0{digits}d}"


@dataclass(frozen=True, slots=True)
class MeterConfig:
    brand: str = "kamstrup"
    phases: int = 3
    three_wire: bool = False
    prosumer: bool = False
    seed: int = 1
    meter_id: str = ""
    metering_point_id: str = ""
    port: PortState = PortState.OPEN
    output: str = "tcp://127.0.0.1:0"
    list2_second: float | None = None
    guek: bytes | None = field(default=None, repr=False)
    gak: bytes | None = field(default=None, repr=False)
    system_title: bytes | None = None

    def completed(self) -> MeterConfig:
        """Checked, with derived identifiers filled in."""
        if self.brand not in BRANDS:
            raise FleetError(f"unknown meter brand {self.brand!r}; use {', '.join(BRANDS)}")
        if self.phases not in (1, 3):
            raise FleetError(f"phases must be 1 or 3, not {self.phases!r}")
        if self.three_wire and self.phases != 3:
            raise FleetError("a 3-wire meter has 3 phases")
        if (self.guek is None) != (self.gak is None):
            raise FleetError("encryption needs both keys (GUEK and GAK)")
        for name, key, size in (
            ("guek", self.guek, 16),
            ("gak", self.gak, 16),
            ("system_title", self.system_title, 8),
        ):
            if key is not None and len(key) != size:
                raise FleetError(
                    f"{name} must be {size} bytes ({2 * size} hex digits) / "
                    f"{name} må være {size} byte ({2 * size} heksadesimale sifre)"
                )
        if self.list2_second is not None:
            try:
                hour_schedule(BRANDS[self.brand], round(self.list2_second * 1000))
            except ValueError as error:
                raise FleetError(f"list2_second = {self.list2_second}: {error}") from None
        meter_id = self.meter_id or meter_id_for(self.brand, self.seed)
        point = self.metering_point_id or metering_point_id_for(self.brand, self.seed)
        if not is_valid_gsrn(point):
            raise FleetError(f"metering point id {point!r} is not an 18-digit GSRN")
        if not meter_id.isdigit() or len(meter_id) > 32:
            raise FleetError(f"meter id {meter_id!r} must be digits (16 for a GS1 meter id)")
        return replace(self, meter_id=meter_id, metering_point_id=point)


_KEYS = {f.name for f in fields(MeterConfig)}

#: what TOML type each key of a meter table takes (bool is not a number here: TOML has both)
_STRING = ("a string", "en tekst")
_INTEGER = ("an integer", "et heltall")
_BOOLEAN = ("true or false", "true eller false")
_NUMBER = ("a number", "et tall")
_KEY_TYPES: dict[str, tuple[str, str]] = {
    "brand": _STRING,
    "phases": _INTEGER,
    "three_wire": _BOOLEAN,
    "prosumer": _BOOLEAN,
    "seed": _INTEGER,
    "meter_id": _STRING,
    "metering_point_id": _STRING,
    "port": _STRING,
    "output": _STRING,
    "list2_second": _NUMBER,
    "guek": _STRING,
    "gak": _STRING,
    "system_title": _STRING,
    "count": _INTEGER,
}


def _has_type(value: object, kind: tuple[str, str]) -> bool:
    if kind is _BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):  # bool is an int in Python, but not a number in a fleet file
        return False
    if kind is _INTEGER:
        return isinstance(value, int)
    if kind is _NUMBER:
        return isinstance(value, int | float)
    return isinstance(value, str)


def _check_types(table: dict[str, Any], where: str) -> None:
    for key, value in table.items():
        kind = _KEY_TYPES.get(key)
        if kind is not None and not _has_type(value, kind):
            english, norwegian = kind
            raise FleetError(
                f"{where}: {key} must be {english}, not {value!r} / {key} må være {norwegian}"
            )


def _tables(document: dict[str, Any], section: str, path: Path) -> list[dict[str, Any]]:
    """The ``[[section]]`` tables of a fleet file: an array of tables, nothing else."""
    tables = document.get(section, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise FleetError(
            f"{path}: {section} must be [[{section}]] tables, one per entry / "
            f"{section} må være [[{section}]]-tabeller"
        )
    return tables


def _where(path: Path, section: str, index: int, table: dict[str, Any]) -> str:
    meter_id = table.get("meter_id")
    named = f" ({meter_id})" if isinstance(meter_id, str) and meter_id else ""
    return f"{path}: {section} #{index + 1}{named}"


def _meter_from_table(table: dict[str, Any], where: str) -> MeterConfig:
    unknown = set(table) - _KEYS
    if unknown:
        raise FleetError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    _check_types(table, where)
    values = dict(table)
    try:
        if "port" in values:
            values["port"] = PortState(values["port"])
        for key in ("guek", "gak", "system_title"):
            if key in values:
                values[key] = bytes.fromhex(values[key])
    except ValueError as error:
        raise FleetError(f"{where}: {error}") from None
    try:
        return MeterConfig(**values).completed()
    except FleetError as error:
        raise FleetError(f"{where}: {error}") from None


def load_fleet(path: Path) -> list[MeterConfig]:
    """The meters of a fleet file; a clear :class:`FleetError` on anything wrong in it."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise FleetError(f"{path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise FleetError(f"{path}: not UTF-8 text / ikke UTF-8-tekst") from None
    except tomllib.TOMLDecodeError as error:
        raise FleetError(f"{path}: not valid TOML ({error})") from None
    unknown = set(document) - {"meter", "generate"}
    if unknown:
        raise FleetError(f"{path}: unknown sections {sorted(unknown)}; use [[meter]], [[generate]]")
    meters: list[MeterConfig] = []
    for index, table in enumerate(_tables(document, "meter", path)):
        meters.append(_meter_from_table(table, _where(path, "meter", index, table)))
    for index, table in enumerate(_tables(document, "generate", path)):
        where = _where(path, "generate", index, table)
        _check_types(table, where)
        template = dict(table)
        count = template.pop("count", None)
        if not isinstance(count, int) or count < 1:
            raise FleetError(
                f"{where}: count must be a positive integer / count må være et positivt heltall"
            )
        if "meter_id" in template or "metering_point_id" in template:
            raise FleetError(f"{where}: generated meters get derived ids; leave the ids out")
        first_seed = template.pop("seed", 1)
        for n in range(count):
            meters.append(_meter_from_table({**template, "seed": first_seed + n}, where))
    if not meters:
        raise FleetError(f"{path}: no meters; add a [[meter]] or [[generate]] table")
    seen: set[str] = set()
    for meter in meters:
        if meter.meter_id in seen:
            raise FleetError(f"{path}: meter id {meter.meter_id} appears twice")
        seen.add(meter.meter_id)
    return meters
