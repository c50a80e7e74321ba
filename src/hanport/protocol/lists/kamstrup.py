"""Kamstrup Omnipower (list id ``Kamstrup_V0001``): OBIS-tagged pairs, no scalers in the frame.

Sources: Kamstrup "HAN-NVE interface description" rev 3.1 §2.7-2.9, NVE "OBIS List Information –
KAMSTRUP"; national variants as observed in tests/data/han-samples (docs/protocol.md §5.1).
"""

from __future__ import annotations

from collections.abc import Mapping

from ._layout import Row
from ._obis import Quantity

__all__ = [
    "CENTIVOLT_ABOVE",
    "DEFAULT_EXPONENTS",
    "LIST_ID",
    "current_exponent",
    "energy_exponent",
    "layout",
    "voltage_exponent",
]

LIST_ID = "Kamstrup_V0001"

#: Decimal exponents of the raw registers (energy depends on the national variant, see below).
DEFAULT_EXPONENTS: Mapping[str, int] = {
    Quantity.POWER: 0,
    Quantity.CURRENT: -2,
    Quantity.VOLTAGE: 0,
    Quantity.POWER_FACTOR: -2,
}

# The last three digits of the meter type name the national variant in every sample we have
# (040 Norway, 090/092 Sweden, 086 Finland, 063 Switzerland, 010 Denmark). Norway counts energy in
# 10 Wh, Sweden in Wh (AmsReader #239); for the others the register resolution is undocumented, so
# their energies stay raw rather than being guessed. HAN-NVE is Norwegian: anything else is NO.
_ENERGY_BY_VARIANT = {"090": 0, "092": 0, "086": None, "063": None, "010": None}
_NORWAY_ENERGY_EXPONENT = 1


#: raw voltages above this are 0.01 V (Danish "5-digit voltage" firmware); no LV grid has 1000 V
CENTIVOLT_ABOVE = 1000


def voltage_exponent(raw: int | float) -> int:
    return -2 if raw > CENTIVOLT_ABOVE else 0


def energy_exponent(meter_type: str | None) -> int | None:
    """Exponent of the Wh registers for this meter type; None when not known."""
    if meter_type is None:
        return None
    return _ENERGY_BY_VARIANT.get(meter_type[-3:], _NORWAY_ENERGY_EXPONENT)


def current_exponent(meter_type: str | None) -> int:
    # 685-series type numbers are CT (transformer) meters, which count current in mA.
    return -3 if meter_type is not None and meter_type.startswith("685") else -2


_U32, _U16, _VIS, _OCT = 0x06, 0x12, 0x0A, 0x09

_IDENT = (
    Row(b"\x01\x01\x00\x00\x05\xff", "meter_id", _VIS),
    Row(b"\x01\x01\x60\x01\x01\xff", "meter_type", _VIS),
)
_POWER = (
    Row(b"\x01\x01\x01\x07\x00\xff", "active_power_import_w", _U32, 0),
    Row(b"\x01\x01\x02\x07\x00\xff", "active_power_export_w", _U32, 0),
    Row(b"\x01\x01\x03\x07\x00\xff", "reactive_power_import_var", _U32, 0),
    Row(b"\x01\x01\x04\x07\x00\xff", "reactive_power_export_var", _U32, 0),
)
_CURRENTS = tuple(
    Row(bytes((1, 1, c, 7, 0, 0xFF)), f"current_l{n}_a", _U32, -2)
    for n, c in ((1, 31), (2, 51), (3, 71))
)
_VOLTAGES = tuple(
    Row(bytes((1, 1, c, 7, 0, 0xFF)), f"voltage_l{n}_v", _U16, 0)
    for n, c in ((1, 32), (2, 52), (3, 72))
)
_CLOCK = (Row(b"\x00\x01\x01\x00\x00\xff", "meter_clock", _OCT),)
_ENERGY = tuple(
    Row(bytes((1, 1, c, 8, 0, 0xFF)), key, _U32, 1 - 3)
    for c, key in (
        (1, "active_energy_import_kwh"),
        (2, "active_energy_export_kwh"),
        (3, "reactive_energy_import_kvarh"),
        (4, "reactive_energy_export_kvarh"),
    )
)


def layout(list_kind: str, phases: int) -> tuple[Row | None, ...]:
    """Objects of list 1 (``instantaneous``) or list 2 (``hourly-with-energy``) in wire order.

    ``None`` marks a phase object a 1-phase meter leaves out: real meters keep the element
    count and send null-data for the OBIS code and the value (docs/protocol.md §5.1).
    """
    absent: tuple[Row | None, ...] = (None, None)
    currents: tuple[Row | None, ...] = _CURRENTS if phases == 3 else (_CURRENTS[0], *absent)
    voltages: tuple[Row | None, ...] = _VOLTAGES if phases == 3 else (_VOLTAGES[0], *absent)
    rows: tuple[Row | None, ...] = (*_IDENT, *_POWER, *currents, *voltages)
    if list_kind == "hourly-with-energy":
        return (*rows, *_CLOCK, *_ENERGY)
    if list_kind == "instantaneous":
        return rows
    raise ValueError(f"Kamstrup has no {list_kind!r} list")
