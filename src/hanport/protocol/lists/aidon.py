"""Aidon 65xx (list id ``AIDON_V0001``): array of {OBIS, value[, {scaler, unit}]} structures.

Sources: Aidon "HAN Interface Description" v1.1A §3.2, NVE "OBIS List Information – AIDON".
The scaler and unit travel in the frame, so decoding needs no table; the layout is for encoding.
"""

from __future__ import annotations

from ._layout import Row

__all__ = ["LIST_ID", "layout"]

LIST_ID = "AIDON_V0001"

_U32, _I16, _U16, _VIS, _OCT = 0x06, 0x10, 0x12, 0x0A, 0x09
_W, _VAR, _A, _V, _WH, _VARH = 0x1B, 0x1D, 0x21, 0x23, 0x1E, 0x20

_P_IMPORT = Row(b"\x01\x00\x01\x07\x00\xff", "active_power_import_w", _U32, 0, _W)
_IDENT = (
    Row(b"\x01\x01\x00\x02\x81\xff", "list_version", _VIS),
    Row(b"\x00\x00\x60\x01\x00\xff", "meter_id", _VIS),
    Row(b"\x00\x00\x60\x01\x07\xff", "meter_type", _VIS),
)
_POWER = (
    _P_IMPORT,
    Row(b"\x01\x00\x02\x07\x00\xff", "active_power_export_w", _U32, 0, _W),
    Row(b"\x01\x00\x03\x07\x00\xff", "reactive_power_import_var", _U32, 0, _VAR),
    Row(b"\x01\x00\x04\x07\x00\xff", "reactive_power_export_var", _U32, 0, _VAR),
)
_CURRENT = {
    n: Row(bytes((1, 0, c, 7, 0, 0xFF)), f"current_l{n}_a", _I16, -1, _A)
    for n, c in ((1, 31), (2, 51), (3, 71))
}
_VOLTAGE = {
    n: Row(bytes((1, 0, c, 7, 0, 0xFF)), f"voltage_l{n}_v", _U16, -1, _V)
    for n, c in ((1, 32), (2, 52), (3, 72))
}
_CLOCK = Row(b"\x00\x00\x01\x00\x00\xff", "meter_clock", _OCT)
# Norwegian registers count 10 Wh (scaler +1 in the frame); the contract unit is kWh.
_ENERGY = tuple(
    Row(bytes((1, 0, c, 8, 0, 0xFF)), key, _U32, 1 - 3, unit, scaler=1)
    for c, key, unit in (
        (1, "active_energy_import_kwh", _WH),
        (2, "active_energy_export_kwh", _WH),
        (3, "reactive_energy_import_kvarh", _VARH),
        (4, "reactive_energy_export_kvarh", _VARH),
    )
)


def layout(list_kind: str, phases: int, three_wire: bool = False) -> tuple[Row, ...]:
    """Objects of list 1 (``power-only``), 2 (``instantaneous``) or 3 (``hourly-with-energy``).

    1-phase meters leave out the L2/L3 objects; 3-phase 3-wire meters (IT grid, type 6525) have
    no IL2 (Aidon HAN Interface Description §3.2; docs/protocol.md §5.2).
    """
    if list_kind == "power-only":
        return (_P_IMPORT,)
    currents = (1,) if phases == 1 else ((1, 3) if three_wire else (1, 2, 3))
    voltages = (1,) if phases == 1 else (1, 2, 3)
    rows = (*_IDENT, *_POWER, *(_CURRENT[n] for n in currents), *(_VOLTAGE[n] for n in voltages))
    if list_kind == "instantaneous":
        return rows
    if list_kind == "hourly-with-energy":
        return (*rows, _CLOCK, *_ENERGY)
    raise ValueError(f"Aidon has no {list_kind!r} list")
