"""The demo's fleet: what issue 7 asks for, loadable by the emulator, matching the port service."""

from __future__ import annotations

from pathlib import Path

from hanport.demo.fleet import demo_fleet, write_fleet_file
from hanport.emulator.fleet import load_fleet
from hanport.emulator.port import PortState
from hanport.portal.seed import DEMO_METERS


def test_fleet_has_every_kind_of_meter_the_demo_promises() -> None:
    fleet = demo_fleet()
    kamstrup = [m for m in fleet if m.brand == "kamstrup"]
    assert any(m.phases == 3 and not m.prosumer for m in kamstrup), "3-phase household"
    assert any(m.phases == 1 for m in kamstrup), "1-phase flat"
    assert any(m.prosumer for m in fleet), "prosumer with solar"
    assert {"aidon", "kaifa"} <= {m.brand for m in fleet}


def test_port_service_meters_are_emulated_with_the_same_ids_and_start_closed(
    tmp_path: Path,
) -> None:
    fleet = demo_fleet()
    configs = load_fleet(write_fleet_file(tmp_path / "fleet.toml", fleet))
    emulated = {c.meter_id: c for c in configs}
    for seeded in DEMO_METERS:
        if not seeded.han_capable:
            assert seeded.meter_id not in emulated
            continue
        config = emulated[seeded.meter_id]
        assert config.metering_point_id == seeded.metering_point_id
        assert config.brand == seeded.manufacturer.lower()
        assert config.phases == seeded.phases
        assert config.port is PortState.CLOSED, "closed until the customer orders it open"
    assert len(emulated) == len(fleet), "no meter id appears twice"


def test_meters_outside_the_port_service_push_from_the_start(tmp_path: Path) -> None:
    outside = [m for m in demo_fleet() if m.customer_email is None]
    configs = load_fleet(write_fleet_file(tmp_path / "fleet.toml", tuple(outside)))
    assert all(c.port is PortState.OPEN for c in configs)
    assert all(c.output == "tcp://127.0.0.1:0" for c in configs)
