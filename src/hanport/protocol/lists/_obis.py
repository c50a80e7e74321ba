"""OBIS objects of the HAN lists, as data: (C, D, E) → contract key and quantity.

Brands disagree on channels (Kamstrup 1-1:…, Aidon/Kaifa 1-0:…), so objects are matched on
C.D.E; the clock is the one object where A matters (0-x:1.0.0 is the clock, 1-x:1.0.0 is not).
"""

from __future__ import annotations

__all__ = ["CLOCK_CODE", "OBJECTS", "Quantity", "obis_text"]

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import Final


class Quantity:
    """What an object measures: the names of the exponent tables' keys. Plain strings, not an
    enum: the core imports no ``enum`` at start-up."""

    POWER: Final = "power"
    CURRENT: Final = "current"
    VOLTAGE: Final = "voltage"
    ENERGY: Final = "energy"
    POWER_FACTOR: Final = "power_factor"
    TEXT: Final = "text"
    NUMBER: Final = "number"
    CLOCK: Final = "clock"


CLOCK_CODE = (1, 0, 0)

_PHASE_POWER = {
    # C codes of per-phase power: (active import, active export, reactive import, reactive export)
    "l1": (21, 22, 23, 24),
    "l2": (41, 42, 43, 44),
    "l3": (61, 62, 63, 64),
}


def _build() -> dict[tuple[int, int, int], tuple[str, str]]:
    table: dict[tuple[int, int, int], tuple[str, str]] = {
        (0, 2, 129): ("list_version", Quantity.TEXT),
        (0, 0, 5): ("meter_id", Quantity.TEXT),  # Kamstrup
        (96, 1, 0): ("meter_id", Quantity.TEXT),  # Aidon, Kaifa
        (96, 1, 1): ("meter_type", Quantity.TEXT),  # Kamstrup
        (96, 1, 7): ("meter_type", Quantity.TEXT),  # Aidon, Kaifa
        (0, 0, 1): ("meter_number", Quantity.NUMBER),  # Kamstrup "DLMS push 1"
        (42, 0, 0): ("logical_device_name", Quantity.TEXT),
        CLOCK_CODE: ("meter_clock", Quantity.CLOCK),
        (1, 7, 0): ("active_power_import_w", Quantity.POWER),
        (2, 7, 0): ("active_power_export_w", Quantity.POWER),
        (3, 7, 0): ("reactive_power_import_var", Quantity.POWER),
        (4, 7, 0): ("reactive_power_export_var", Quantity.POWER),
        (13, 7, 0): ("power_factor", Quantity.POWER_FACTOR),
        (1, 8, 0): ("active_energy_import_kwh", Quantity.ENERGY),
        (2, 8, 0): ("active_energy_export_kwh", Quantity.ENERGY),
        (3, 8, 0): ("reactive_energy_import_kvarh", Quantity.ENERGY),
        (4, 8, 0): ("reactive_energy_export_kvarh", Quantity.ENERGY),
    }
    for number, phase in enumerate(("l1", "l2", "l3")):
        base = 20 * number
        table[(31 + base, 7, 0)] = (f"current_{phase}_a", Quantity.CURRENT)
        table[(32 + base, 7, 0)] = (f"voltage_{phase}_v", Quantity.VOLTAGE)
        table[(33 + base, 7, 0)] = (f"power_factor_{phase}", Quantity.POWER_FACTOR)
        ai, ae, ri, re = _PHASE_POWER[phase]
        table[(ai, 7, 0)] = (f"active_power_import_{phase}_w", Quantity.POWER)
        table[(ae, 7, 0)] = (f"active_power_export_{phase}_w", Quantity.POWER)
        table[(ri, 7, 0)] = (f"reactive_power_import_{phase}_var", Quantity.POWER)
        table[(re, 7, 0)] = (f"reactive_power_export_{phase}_var", Quantity.POWER)
    return table


OBJECTS = _build()


def obis_text(code: bytes) -> str:
    """``A-B:C.D.E.F`` for six OBIS bytes."""
    a, b, c, d, e, f = code
    return f"{a}-{b}:{c}.{d}.{e}.{f}"
