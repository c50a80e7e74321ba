"""`hanport portal` options and the demo fleet file the emulator loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanport.cli import main
from hanport.emulator.fleet import load_fleet
from hanport.portal.seed import DEMO_METERS


def test_fleet_file_loads_in_the_emulator_with_the_same_ids(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    assert main(["portal", "--fleet-out", str(path)]) == 0
    meters = load_fleet(path)
    assert [(m.meter_id, m.metering_point_id) for m in meters] == [
        (d.meter_id, d.metering_point_id) for d in DEMO_METERS
    ]
    assert [(m.brand, m.phases, m.three_wire, m.prosumer, m.seed) for m in meters] == [
        (d.brand, d.phases, d.three_wire, d.prosumer, d.serial) for d in DEMO_METERS
    ]
    assert {"kamstrup", "aidon", "kaifa"} <= {m.brand for m in meters}
    assert {m.port.value for m in meters} == {"closed"}  # closed until a customer orders


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--smtp", "localhost"], "write HOST:PORT"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--max-attempts", "1"], "--max-attempts must be at least 2"),
    ],
)
def test_bad_options_get_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    try:
        code = main(["portal", "--db", db, *argv])
    except SystemExit as exit_:  # argparse
        code = int(exit_.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_audit_verify_on_a_database_that_is_not_the_portals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit-verify", "--db", f"sqlite:///{tmp_path / 'other.db'}"]) == 2
    assert "not a port service database" in capsys.readouterr().err
