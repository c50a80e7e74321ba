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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[generate]]\ncount = 2\nseed = 'x'\n", r"generate #1: seed must be an integer"),
        ("[[meter]]\nguek = 5\ngak = 5\n", r"meter #1: guek must be a string"),
        ("[[meter]]\nbrand = ['kamstrup']\n", r"brand must be a string"),
        ("[[meter]]\noutput = 5\n", r"output must be a string"),
        ("[[meter]]\nlist2_second = '5'\n", r"list2_second must be a number"),
        ("[[meter]]\nlist2_second = 75\n", r"list2_second = 75: .*first minute"),
        ("[[meter]]\nmeter_id = 123\n", r"meter_id must be a string"),
        ("[[meter]]\nphases = 3.0\n", r"phases must be an integer"),
        ("[[meter]]\nseed = true\n", r"seed must be an integer"),
        ("[[meter]]\nprosumer = 'no'\n", r"prosumer must be true or false"),
        ("[[meter]]\nthree_wire = 'false'\n", r"three_wire must be true or false"),
        ("[[generate]]\ncount = true\n", r"count must be an integer"),
        ("meter = 5\n", r"meter must be \[\[meter\]\] tables"),
        ("[meter]\nbrand = 'aidon'\n", r"meter must be \[\[meter\]\] tables"),
        ("generate = [1, 2]\n", r"generate must be \[\[generate\]\] tables"),
        ("[[meter]]\nguek = '00'\ngak = '00'\n", r"guek must be 16 bytes"),
        ("[[meter]]\nsystem_title = '0011'\n", r"system_title must be 8 bytes"),
        (
            "[[meter]]\nmeter_id = '5706567274389702'\nprosumer = 1\n",
            r"fleet\.toml: meter #1 \(5706567274389702\): prosumer must be true or false",
        ),
    ],
)
def test_every_field_of_a_fleet_file_is_type_checked(tmp_path, text, message):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(FleetError, match=message) as raised:
        load_fleet(path)
    assert str(path) in str(raised.value)
