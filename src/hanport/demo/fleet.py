"""The demo's meters: which emulated meter plays which part, and the fleet file for the emulator.

The port service's demo seed (``hanport.portal.seed.DEMO_METERS``) is the register of metering
points, meters and customers; the fleet is built from it, so the metering points a demo customer
sees in the port service are exactly the meters the emulator runs. The demo adds only what the
register does not hold: the physics (seed, solar) and a short description of each meter's part.
Brands the seed lacks are added as meters outside the port service, port open, so that every
brand the reader supports is on the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["DemoMeter", "demo_fleet", "write_fleet_file"]

#: Hytteveien 12, the second metering point of the seed's first customer: the solar cabin.
PROSUMER_METER_IDS = frozenset({"5706567274389702"})

#: Outside the port service (not in its seed): a 3-phase Aidon and a 3-phase Kaifa, port open.
_EXTRA_BRANDS: tuple[tuple[str, int, int], ...] = (("aidon", 3, 101), ("kaifa", 3, 102))


@dataclass(frozen=True, slots=True)
class DemoMeter:
    brand: str  #: emulator brand: kamstrup | aidon | kaifa
    phases: int
    meter_id: str
    metering_point_id: str
    customer_email: str | None  #: None: not in the port service
    street: str = ""
    prosumer: bool = False
    seed: int = 1
    port: str = "closed"

    @property
    def role(self) -> str:
        """What this meter shows in the demo, bokmål / English."""
        if self.prosumer:
            kind = "plusskunde med solceller / prosumer with solar"
        elif self.phases == 1:
            kind = "1-fase leilighet / 1-phase flat"
        else:
            kind = "3-fase husholdning / 3-phase household"
        return f"{self.brand.capitalize()}, {kind}"

    def fleet_table(self) -> str:
        lines = [
            "[[meter]]",
            f'brand = "{self.brand}"',
            f"phases = {self.phases}",
            f"prosumer = {'true' if self.prosumer else 'false'}",
            f"seed = {self.seed}",
            # The port state of a meter the emulator has run before comes from its state
            # directory; this is only the state of a meter seen for the first time.
            f'port = "{self.port}"',
            'output = "tcp://127.0.0.1:0"',
        ]
        if self.meter_id:
            lines.append(f'meter_id = "{self.meter_id}"')
        if self.metering_point_id:
            lines.append(f'metering_point_id = "{self.metering_point_id}"')
        return "\n".join(lines) + "\n"


def demo_fleet() -> tuple[DemoMeter, ...]:
    """The demo's meters: the port service's HAN-capable seed meters plus missing brands."""
    from hanport.portal.seed import DEMO_METERS

    meters: list[DemoMeter] = []
    for number, seeded in enumerate(DEMO_METERS, start=1):
        if not seeded.han_capable:
            continue  # e.g. old firmware: the port service refuses to open it; nothing to emulate
        meters.append(
            DemoMeter(
                brand=seeded.manufacturer.lower(),
                phases=seeded.phases,
                meter_id=seeded.meter_id,
                metering_point_id=seeded.metering_point_id,
                customer_email=seeded.customer_email,
                street=seeded.street,
                prosumer=seeded.meter_id in PROSUMER_METER_IDS,
                seed=number,
            )
        )
    present = {meter.brand for meter in meters}
    for brand, phases, seed in _EXTRA_BRANDS:
        if brand not in present:
            # Ids are derived by the emulator from brand and seed (valid GS1 / GSRN).
            meters.append(DemoMeter(brand, phases, "", "", None, seed=seed, port="open"))
    return tuple(meters)


def with_ids(meter: DemoMeter, meter_id: str, metering_point_id: str) -> DemoMeter:
    """The meter with the identifiers the emulator reported for it."""
    return replace(meter, meter_id=meter_id, metering_point_id=metering_point_id)


def write_fleet_file(path: Path, meters: tuple[DemoMeter, ...]) -> Path:
    """Write the emulator's fleet TOML (rewritten on every start; it holds no state)."""
    header = "# Written by `hanport demo` on every start (see hanport.demo.fleet).\n\n"
    path.write_text(header + "\n".join(meter.fleet_table() for meter in meters), encoding="utf-8")
    return path
