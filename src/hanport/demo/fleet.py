"""The demo's meters: which emulated meter plays which part, and the fleet file for the emulator.

The port service's demo seed (``hanport.portal.seed.DEMO_METERS``) is the one register of metering
points, meters, customers and what each meter is (brand, phases, wiring, solar); the demo takes
all of it from there and writes the fleet file with the seed's own writer. So every emulated
meter is a meter of the port service, starts with its HAN port closed, and is opened by a
customer's order – the metering points a demo customer sees are exactly the meters the emulator
runs. The demo adds only a short description of each meter's part for its banner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hanport.portal.seed import DEMO_METERS, fleet_toml
from hanport.portal.seed import DemoMeter as SeedMeter

__all__ = ["DemoMeter", "demo_fleet", "write_fleet_file"]


@dataclass(frozen=True, slots=True)
class DemoMeter:
    """One emulated meter of the demo, as the port service's seed describes it."""

    seeded: SeedMeter

    @property
    def brand(self) -> str:
        return self.seeded.brand

    @property
    def phases(self) -> int:
        return self.seeded.phases

    @property
    def prosumer(self) -> bool:
        return self.seeded.prosumer

    @property
    def meter_id(self) -> str:
        return self.seeded.meter_id

    @property
    def metering_point_id(self) -> str:
        return self.seeded.metering_point_id

    @property
    def customer_email(self) -> str:
        return self.seeded.customer_email

    @property
    def street(self) -> str:
        return self.seeded.street

    @property
    def role(self) -> str:
        """What this meter shows in the demo, bokmål / English."""
        if self.prosumer:
            kind = "plusskunde med solceller / prosumer with solar"
        elif self.phases == 1:
            kind = "1-fase leilighet / 1-phase flat"
        else:
            kind = "3-fase husholdning / 3-phase household"
        return f"{self.seeded.manufacturer} {self.seeded.model}, {kind}, {self.street}"


def demo_fleet() -> tuple[DemoMeter, ...]:
    """The port service's HAN-capable seed meters, in the seed's order."""
    # A meter that cannot have a HAN port (old firmware) is refused by the port service before
    # it reaches the head-end; there is nothing to emulate.
    return tuple(DemoMeter(seeded) for seeded in DEMO_METERS if seeded.han_capable)


def write_fleet_file(path: Path, meters: tuple[DemoMeter, ...]) -> Path:
    """Write the emulator's fleet TOML (rewritten on every start; it holds no state)."""
    header = "# Written by `hanport demo` on every start (see hanport.demo.fleet).\n"
    text = fleet_toml(tuple(meter.seeded for meter in meters), port="closed")
    path.write_text(header + text, encoding="utf-8")
    return path
