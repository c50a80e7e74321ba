"""Kaifa MA304/MA105 (list id ``KFM_001``): bare values, meaning by position and element count.

Source: Kaifa "HAN OBIS codes KFM_001"; units as observed and confirmed by the capture authors
(current mA, voltage 0.1 V, energy Wh; docs/protocol.md §5.3). Strings are octet-strings and every
number is a double-long-unsigned.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._layout import Row
from ._obis import Quantity

__all__ = ["DEFAULT_EXPONENTS", "LIST_ID", "layout", "positional_layout"]

LIST_ID = "KFM_001"

DEFAULT_EXPONENTS: Mapping[str, int] = {
    Quantity.POWER: 0,
    Quantity.CURRENT: -3,
    Quantity.VOLTAGE: -1,
    Quantity.ENERGY: 0,
}

_U32, _OCT = 0x06, 0x09

_VERSION = Row(b"\x01\x01\x00\x02\x81\xff", "list_version", _OCT)
_ID = Row(b"\x00\x00\x60\x01\x00\xff", "meter_id", _OCT)
_TYPE = Row(b"\x00\x00\x60\x01\x07\xff", "meter_type", _OCT)
_POWER = tuple(
    Row(bytes((1, 0, c, 7, 0, 0xFF)), key, _U32, 0)
    for c, key in (
        (1, "active_power_import_w"),
        (2, "active_power_export_w"),
        (3, "reactive_power_import_var"),
        (4, "reactive_power_export_var"),
    )
)
_CURRENT = tuple(
    Row(bytes((1, 0, c, 7, 0, 0xFF)), f"current_l{n}_a", _U32, -3)
    for n, c in ((1, 31), (2, 51), (3, 71))
)
_VOLTAGE = tuple(
    Row(bytes((1, 0, c, 7, 0, 0xFF)), f"voltage_l{n}_v", _U32, -1)
    for n, c in ((1, 32), (2, 52), (3, 72))
)
_CLOCK = Row(b"\x00\x00\x01\x00\x00\xff", "meter_clock", _OCT)
_ENERGY = tuple(
    Row(bytes((1, 0, c, 8, 0, 0xFF)), key, _U32, -3)
    for c, key in (
        (1, "active_energy_import_kwh"),
        (2, "active_energy_export_kwh"),
        (3, "reactive_energy_import_kvarh"),
        (4, "reactive_energy_export_kvarh"),
    )
)
_LIST2_3P = (_VERSION, _ID, _TYPE, *_POWER, *_CURRENT, *_VOLTAGE)
_LIST2_1P = (_VERSION, _ID, _TYPE, *_POWER, _CURRENT[0], _VOLTAGE[0])

#: element count → meaning of each position
_BY_COUNT: dict[int, tuple[Row, ...]] = {
    1: (_POWER[0],),
    9: _LIST2_1P,
    13: _LIST2_3P,
    14: (*_LIST2_1P, _CLOCK, *_ENERGY),
    18: (*_LIST2_3P, _CLOCK, *_ENERGY),
}


def positional_layout(count: int) -> tuple[Row, ...] | None:
    return _BY_COUNT.get(count)


def layout(list_kind: str, phases: int) -> tuple[Row, ...]:
    """List 1 (``power-only``), 2 (``instantaneous``) or 3 (``hourly-with-energy``).

    3-wire meters keep UL2 in the list and send 0 (docs/protocol.md §5.3); the caller passes 0.
    """
    three = phases == 3
    count = {
        "power-only": 1,
        "instantaneous": 13 if three else 9,
        "hourly-with-energy": 18 if three else 14,
    }.get(list_kind)
    if count is None:
        raise ValueError(f"Kaifa has no {list_kind!r} list")
    return _BY_COUNT[count]
