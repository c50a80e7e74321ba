"""Hypothesis strategies: meters, list kinds and register values the encoder can represent."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

OSLO = ZoneInfo("Europe/Oslo")
LIST_KINDS = {
    "Kamstrup": ("instantaneous", "hourly-with-energy"),
    "Aidon": ("power-only", "instantaneous", "hourly-with-energy"),
    "Kaifa": ("power-only", "instantaneous", "hourly-with-energy"),
}
#: register resolution per brand: key suffix → number of decimals the frame keeps
_DECIMALS = {
    "Kamstrup": {"_a": 2, "_v": 0, "_kwh": 2, "_kvarh": 2},
    "Aidon": {"_a": 1, "_v": 1, "_kwh": 2, "_kvarh": 2},
    "Kaifa": {"_a": 3, "_v": 1, "_kwh": 3, "_kvarh": 3},
}
_KEYS = (
    "active_power_import_w",
    "active_power_export_w",
    "reactive_power_import_var",
    "reactive_power_export_var",
    "current_l1_a",
    "current_l2_a",
    "current_l3_a",
    "voltage_l1_v",
    "voltage_l2_v",
    "voltage_l3_v",
    "active_energy_import_kwh",
    "active_energy_export_kwh",
    "reactive_energy_import_kvarh",
    "reactive_energy_export_kvarh",
)


def _quantised(manufacturer: str, key: str) -> st.SearchStrategy[float | int]:
    decimals = next((d for suffix, d in _DECIMALS[manufacturer].items() if key.endswith(suffix)), 0)
    upper = {"_a": 300, "_v": 260, "_kwh": 400_000, "_kvarh": 400_000}.get(
        key[key.rfind("_") :], 60_000
    )
    if key.endswith("_v") and manufacturer != "Kamstrup":
        upper = 6000  # u16 tenths of a volt
    steps = st.integers(min_value=0, max_value=upper * 10**decimals)
    if decimals == 0:
        return steps
    return steps.map(lambda n: n / 10**decimals)


@st.composite
def meter_messages(draw: st.DrawFn) -> tuple[str, int, bool, str, dict[str, float | int], datetime]:
    manufacturer = draw(st.sampled_from(sorted(LIST_KINDS)))
    phases = draw(st.sampled_from((1, 3)))
    three_wire = phases == 3 and manufacturer != "Kamstrup" and draw(st.booleans())
    list_kind = draw(st.sampled_from(LIST_KINDS[manufacturer]))
    values = {key: draw(_quantised(manufacturer, key)) for key in _KEYS}
    if manufacturer == "Aidon":
        # Aidon voltages are u16 tenths of a volt; currents i16 tenths of an ampere
        values = {k: (min(v, 3276.7) if k.endswith("_a") else v) for k, v in values.items()}
    when = datetime(2020, 1, 1, tzinfo=OSLO) + timedelta(
        seconds=draw(st.integers(0, 10 * 365 * 86400))
    )
    when = when.astimezone(OSLO)
    return manufacturer, phases, three_wire, list_kind, values, when


def expected_fields(
    manufacturer: str, phases: int, three_wire: bool, list_kind: str, values: dict[str, float | int]
) -> set[str]:
    """Keys of the values a list carries for this meter."""
    if list_kind == "power-only":
        return {"active_power_import_w"}
    keys = {k for k in _KEYS if not k.endswith(("_kwh", "_kvarh"))}
    if phases == 1:
        keys -= {"current_l2_a", "current_l3_a", "voltage_l2_v", "voltage_l3_v"}
    if three_wire and manufacturer == "Aidon":
        keys.discard("current_l2_a")
    if list_kind == "hourly-with-energy":
        keys |= {k for k in _KEYS if k.endswith(("_kwh", "_kvarh"))}
    return keys
