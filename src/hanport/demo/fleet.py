"""The demo's meters: which emulated meter plays which part, and the fleet file for the emulator.

The port service's demo seed (``hanport.portal.seed.DEMO_METERS``) is the one register of metering
points, meters, customers and what each meter is (brand, phases, wiring, solar); the demo takes
all of it from there and writes the fleet file with the seed's own writer. So every emulated
meter is a meter of the port service, starts with its HAN port closed, and is opened by a
customer's order – the metering points a demo customer sees are exactly the meters the emulator
runs. The demo adds only a short description of each meter's part for its banner (:func:`role`).
"""

from __future__ import annotations

from pathlib import Path

from hanport.portal.seed import DEMO_METERS, DemoMeter, fleet_toml

__all__ = ["DemoMeter", "demo_fleet", "role", "write_fleet_file"]


def role(meter: DemoMeter) -> str:
    """What this meter shows in the demo, bokmål / English (the banner's description)."""
    if meter.prosumer:
        kind = "plusskunde med solceller / prosumer with solar"
    elif meter.phases == 1:
        kind = "1-fase leilighet / 1-phase flat"
    else:
        kind = "3-fase husholdning / 3-phase household"
    return f"{meter.manufacturer} {meter.model}, {kind}, {meter.street}"


def demo_fleet() -> tuple[DemoMeter, ...]:
    """The port service's HAN-capable seed meters, in the seed's order."""
    # A meter that cannot have a HAN port (old firmware) is refused by the port service before
    # it reaches the head-end; there is nothing to emulate.
    return tuple(meter for meter in DEMO_METERS if meter.han_capable)


def write_fleet_file(path: Path, meters: tuple[DemoMeter, ...]) -> Path:
    """Write the emulator's fleet TOML (rewritten on every start; it holds no state)."""
    header = "# Written by `hanport demo` on every start (see hanport.demo.fleet).\n"
    text = fleet_toml(meters, port="closed")
    path.write_text(header + text, encoding="utf-8")
    return path
