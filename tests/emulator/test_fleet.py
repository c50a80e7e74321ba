"""Meter configurations and fleet files."""

from __future__ import annotations

import pytest

from hanport.emulator.fleet import (
    FleetError,
    MeterConfig,
    gs1_check_digit,
    is_valid_gsrn,
    load_fleet,
)
from hanport.emulator.port import PortState


def test_gs1_check_digit_of_known_numbers():
    assert gs1_check_digit("0001234560001") == 2  # GS1 example: GTIN-14 00012345600012
    # weights 3,1,3,… from the right: 1*3 + 5*3 + 7 + 5*3 + 7*3 + 7*3 = 82 -> check digit 8
    assert is_valid_gsrn("707057500000000018")
    assert not is_valid_gsrn("707057500000000017")
    assert not is_valid_gsrn("70705750000000001")


def test_derived_identities_are_valid_and_stable():
    a = MeterConfig(brand="aidon", seed=4).completed()
    b = MeterConfig(brand="aidon", seed=4).completed()
    assert a == b
    assert a.meter_id.startswith("7359992") and len(a.meter_id) == 16
    assert a.metering_point_id.startswith("707057500") and is_valid_gsrn(a.metering_point_id)


def test_fleet_file(tmp_path):
    body = "70705750000000001"
    point = body + str(gs1_check_digit(body))
    path = tmp_path / "fleet.toml"
    path.write_text(
        """
[[meter]]
brand = "kamstrup"
meter_id = "5706567274389702"
metering_point_id = "POINT"
port = "closed"
output = "pty"

[[generate]]
count = 3
brand = "kaifa"
phases = 1
seed = 100
output = "none"
"""
    )
    path.write_text(path.read_text().replace("POINT", point))
    meters = load_fleet(path)
    assert len(meters) == 4
    assert meters[0].port is PortState.CLOSED and meters[0].output == "pty"
    assert [m.seed for m in meters[1:]] == [100, 101, 102]
    assert len({m.meter_id for m in meters}) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[meter]]\nbrand = 'landis'\n", "unknown meter brand"),
        ("[[meter]]\ncolour = 'red'\n", "unknown keys"),
        ("[[meter]]\nmetering_point_id = '707057500000000017'\n", "GSRN"),
        ("[[meter]]\nport = 'ajar'\n", "ajar"),
        ("[[generate]]\ncount = 0\n", "count"),
        ("[[meter]]\nseed = 1\n[[meter]]\nseed = 1\n", "twice"),
        ("meter = 3\n[[x]]\n", "unknown sections"),
        ("[[meter]\n", "not valid TOML"),
        ("", "no meters"),
    ],
)
def test_fleet_errors_are_clear(tmp_path, text, message):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(FleetError, match=message):
        load_fleet(path)
