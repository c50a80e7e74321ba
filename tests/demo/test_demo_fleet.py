"""The demo fleet: what issue 7 asks for, loadable by the emulator, all from the port service."""

from __future__ import annotations

from pathlib import Path

from hanport.demo.fleet import demo_fleet, role, write_fleet_file
from hanport.emulator.fleet import load_fleet
from hanport.emulator.meter import BRANDS
from hanport.emulator.port import PortState
from hanport.portal.seed import DEMO_METERS


def test_fleet_has_every_kind_of_meter_the_issue_asks_for() -> None:
    fleet = demo_fleet()
    kamstrup = [m for m in fleet if m.brand == "kamstrup"]
    assert any(m.phases == 3 and not m.prosumer for m in kamstrup), "3-phase household"
    assert any(m.phases == 1 for m in kamstrup), "1-phase flat"
    assert any(m.prosumer for m in fleet), "prosumer with solar"
    assert [m.brand for m in fleet].count("aidon") == 1
    assert [m.brand for m in fleet].count("kaifa") == 1


def test_every_emulated_meter_is_a_seeded_meter_of_the_port_service() -> None:
    seeded = {m.meter_id: m for m in DEMO_METERS if m.han_capable}
    fleet = demo_fleet()
    assert [m.meter_id for m in fleet] == list(seeded)
    for meter in fleet:
        assert meter is seeded[meter.meter_id]
        assert meter.customer_email, "orderable by a customer"


def test_fleet_file_gives_the_emulator_the_seeds_meters_closed(tmp_path: Path) -> None:
    fleet = demo_fleet()
    configs = load_fleet(write_fleet_file(tmp_path / "fleet.toml", fleet))
    assert len(configs) == len(fleet)
    for meter, config in zip(fleet, configs, strict=True):
        seeded = meter
        assert (config.meter_id, config.metering_point_id) == (
            seeded.meter_id,
            seeded.metering_point_id,
        )
        assert (config.brand, config.phases, config.three_wire, config.prosumer) == (
            seeded.brand,
            seeded.phases,
            seeded.three_wire,
            seeded.prosumer,
        )
        assert config.seed == seeded.serial
        assert config.port is PortState.CLOSED, "closed until the customer orders it open"
        assert config.output == "tcp://127.0.0.1:0"


def test_banner_role_names_brand_model_and_part() -> None:
    roles = {m.meter_id: role(m) for m in demo_fleet()}
    assert "prosumer with solar" in roles["5706567274389702"]
    assert roles["5706567274389703"].startswith("Kamstrup 6861111BN242101040, 1-fase")
    assert roles["7359992890941742"].startswith("Aidon 6525, 3-fase")
    assert roles["6970631400532475"].startswith("Kaifa MA304H4, 3-fase")


def test_seed_meter_types_and_ids_are_what_the_emulated_han_stream_reports() -> None:
    for meter in DEMO_METERS:
        if not meter.han_capable:
            continue
        spec = BRANDS[meter.brand]
        assert meter.model == spec.meter_types[(meter.phases, meter.three_wire)], meter
        assert meter.meter_id.startswith(spec.meter_id_prefix) and len(meter.meter_id) == 16
