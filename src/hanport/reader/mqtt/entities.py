"""The sensors a meter offers Home Assistant, as data (one row per value).

``device_class``/``state_class``/``unit`` follow HA's sensor tables: cumulative registers are
``total_increasing`` so the Energy dashboard can use them; derived hour values carry no state
class because they go up and down by design (HA allows only total/total_increasing for energy).
The price is ``monetary`` in NOK/kWh (what HA's Energy dashboard takes as "an entity with the
current price") without a state class: HA allows only ``total`` for monetary, and a price is
no total.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENTITIES", "Entity"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    key: str  # the field in the state JSON (decode-contract name where there is one)
    name_nb: str
    name_en: str
    platform: str = "sensor"
    device_class: str | None = None
    state_class: str | None = None
    unit: str | None = None
    enabled_default: bool = True
    diagnostic: bool = False
    icon: str | None = None


def _phases(key: str, nb: str, en: str, device_class: str, unit: str) -> tuple[Entity, ...]:
    return tuple(
        Entity(
            key=key.format(n=n),
            name_nb=f"{nb} L{n}",
            name_en=f"{en} L{n}",
            device_class=device_class,
            state_class="measurement",
            unit=unit,
            # L2/L3 exist only on 3-phase meters: like HA's DSMR integration, per-phase rows
            # beyond the first start disabled
            enabled_default=n == 1,
        )
        for n in (1, 2, 3)
    )


ENTITIES: tuple[Entity, ...] = (
    Entity(
        key="active_power_import_w",
        name_nb="Effekt forbruk",
        name_en="Power import",
        device_class="power",
        state_class="measurement",
        unit="W",
    ),
    Entity(
        key="active_power_export_w",
        name_nb="Effekt produksjon",
        name_en="Power export",
        device_class="power",
        state_class="measurement",
        unit="W",
    ),
    Entity(
        key="reactive_power_import_var",
        name_nb="Reaktiv effekt forbruk",
        name_en="Reactive power import",
        device_class="reactive_power",
        state_class="measurement",
        unit="var",
        enabled_default=False,
    ),
    Entity(
        key="reactive_power_export_var",
        name_nb="Reaktiv effekt produksjon",
        name_en="Reactive power export",
        device_class="reactive_power",
        state_class="measurement",
        unit="var",
        enabled_default=False,
    ),
    *_phases("current_l{n}_a", "Strøm", "Current", "current", "A"),
    *_phases("voltage_l{n}_v", "Spenning", "Voltage", "voltage", "V"),
    Entity(
        key="active_energy_import_kwh",
        name_nb="Energi forbruk",
        name_en="Energy import",
        device_class="energy",
        state_class="total_increasing",
        unit="kWh",
    ),
    Entity(
        key="active_energy_export_kwh",
        name_nb="Energi produksjon",
        name_en="Energy export",
        device_class="energy",
        state_class="total_increasing",
        unit="kWh",
    ),
    Entity(
        key="reactive_energy_import_kvarh",
        name_nb="Reaktiv energi forbruk",
        name_en="Reactive energy import",
        device_class="reactive_energy",
        state_class="total_increasing",
        unit="kvarh",
        enabled_default=False,
    ),
    Entity(
        key="reactive_energy_export_kvarh",
        name_nb="Reaktiv energi produksjon",
        name_en="Reactive energy export",
        device_class="reactive_energy",
        state_class="total_increasing",
        unit="kvarh",
        enabled_default=False,
    ),
    Entity(
        key="last_hour_kwh",
        name_nb="Forbruk forrige time",
        name_en="Consumption last hour",
        device_class="energy",
        unit="kWh",
    ),
    Entity(
        key="last_hour_export_kwh",
        name_nb="Produksjon forrige time",
        name_en="Export last hour",
        device_class="energy",
        unit="kWh",
        enabled_default=False,
    ),
    Entity(
        key="this_hour_kwh",
        name_nb="Forbruk denne timen",
        name_en="Consumption this hour",
        device_class="energy",
        unit="kWh",
    ),
    Entity(
        key="this_hour_projection_kwh",
        name_nb="Prognose denne timen",
        name_en="Projection this hour",
        device_class="energy",
        unit="kWh",
    ),
    Entity(
        key="capacity_average_kw",
        name_nb="Kapasitetsledd snitt topp 3",
        name_en="Capacity tariff top-3 average",
        device_class="power",
        state_class="measurement",
        unit="kW",
    ),
    Entity(
        key="capacity_headroom_kw",
        name_nb="Kapasitetsledd margin",
        name_en="Capacity tariff headroom",
        device_class="power",
        state_class="measurement",
        unit="kW",
    ),
    Entity(
        key="capacity_step_price_nok",
        name_nb="Kapasitetsledd pris",
        name_en="Capacity tariff price",
        device_class="monetary",
        unit="NOK",
    ),
    Entity(
        key="capacity_warning",
        name_nb="Kapasitetsledd varsel",
        name_en="Capacity tariff warning",
        platform="binary_sensor",
        device_class="problem",
    ),
    # the hour's allowance (GET /api/budget) and the load-shed signal drawn from it
    Entity(
        key="hour_limit_kwh",
        name_nb="Grense denne timen",
        name_en="This hour's limit",
        device_class="energy",
        unit="kWh",
    ),
    Entity(
        key="hour_left_kwh",
        name_nb="Igjen denne timen",
        name_en="Left this hour",
        device_class="energy",
        unit="kWh",
    ),
    # the main fuse's headroom per phase ([fuse] amps); "unknown" while it is not configured
    *_phases("fuse_headroom_l{n}_a", "Sikringsmargin", "Main fuse headroom", "current", "A"),
    Entity(
        key="fuse_warning",
        name_nb="Hovedsikring nær grensen",
        name_en="Main fuse near its rating",
        platform="binary_sensor",
        device_class="problem",
    ),
    # [prices] zone: what a kWh imported this hour costs (spot with VAT; with [tariff] company
    # also the grid's energy charge, less support); published each hour and when prices arrive
    Entity(
        key="price_nok_per_kwh",
        name_nb="Strømpris",
        name_en="Electricity price",
        device_class="monetary",
        unit="NOK/kWh",
    ),
    Entity(
        key="reduce_load",
        name_nb="Reduser forbruket nå",
        name_en="Reduce load now",
        platform="binary_sensor",
        device_class="problem",
    ),
)
