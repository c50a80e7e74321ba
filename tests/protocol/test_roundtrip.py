"""Encoder and decoder are inverses; amshan, an independent decoder, agrees with the encoder."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanport.protocol import HanEncoder, HanStream, Keys, Reading, decode_frame

from .strategies import OSLO, expected_fields, meter_messages

METER_ID = "5706567274389702"
METER_TYPE = {"Kamstrup": "6841121BN243101040", "Aidon": "6534", "Kaifa": "MA304H3E"}


def _encoder(
    manufacturer: str, phases: int, three_wire: bool, keys: Keys | None = None
) -> HanEncoder:
    return HanEncoder(
        manufacturer,
        meter_id=METER_ID,
        meter_type=METER_TYPE[manufacturer],
        phases=phases,
        three_wire=three_wire,
        keys=keys,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meter_messages())
def test_encode_then_decode_is_identity(message: tuple) -> None:
    manufacturer, phases, three_wire, list_kind, values, when = message
    frame = _encoder(manufacturer, phases, three_wire).encode(list_kind, values, when)
    reading = decode_frame(frame)
    assert reading.manufacturer == manufacturer
    assert reading.list_kind == list_kind
    carried = expected_fields(manufacturer, phases, three_wire, list_kind, values)
    for key in carried:
        expected = (
            0 if (manufacturer == "Kaifa" and three_wire and key == "voltage_l2_v") else values[key]
        )
        assert math.isclose(reading.values[key], expected, rel_tol=1e-12, abs_tol=1e-9), key
    measured = {
        k for k in reading.values if k.endswith(("_w", "_var", "_a", "_v", "_kwh", "_kvarh"))
    }
    assert measured == carried | (
        {"voltage_l2_v"}
        if manufacturer == "Kaifa" and three_wire and list_kind != "power-only"
        else set()
    )
    if list_kind != "power-only":
        assert reading.meter_id == METER_ID
    if list_kind == "hourly-with-energy":
        assert reading.meter_clock == when.strftime("%Y-%m-%dT%H:%M:%S")


@settings(max_examples=40, deadline=None)
@given(meter_messages(), st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
def test_encrypted_round_trip(message: tuple, guek: bytes, gak: bytes) -> None:
    manufacturer, phases, three_wire, list_kind, values, when = message
    keys = Keys(guek, gak)
    encoder = _encoder(manufacturer, phases, three_wire, keys)
    frames = [encoder.encode(list_kind, values, when) for _ in range(2)]
    plain = decode_frame(_encoder(manufacturer, phases, three_wire).encode(list_kind, values, when))
    readings = [decode_frame(f, keys=keys) for f in frames]
    # Encrypted Kamstrup frames are the Danish/Swiss firmware, which sets the clock status's
    # DST bit in summer (the Norwegian one does not): compare everything else.
    expected = {k: v for k, v in plain.values.items() if k != "meter_clock_status"}
    got = [{k: v for k, v in r.values.items() if k != "meter_clock_status"} for r in readings]
    assert got == [expected, expected]
    assert readings[1].frame_counter == readings[0].frame_counter + 1
    wrong = HanStream(keys=Keys(bytes(b ^ 0xFF for b in guek), gak))
    events = wrong.feed(frames[0])
    assert not any(isinstance(e, Reading) for e in events)
    assert wrong.stats.decrypt_errors == 1


def _amshan_decode(frame: bytes) -> dict:
    from han import autodecoder, hdlc

    frames = hdlc.HdlcFrameReader(False).read(frame)
    assert len(frames) == 1 and frames[0].is_good_ffc and frames[0].is_expected_length
    decoded = autodecoder.AutoDecoder().decode_message(frames[0])
    assert decoded is not None
    return decoded


_AMSHAN_KEYS = {
    "active_power_import_w": "active_power_import",
    "active_power_export_w": "active_power_export",
    "reactive_power_import_var": "reactive_power_import",
    "reactive_power_export_var": "reactive_power_export",
    "current_l1_a": "current_l1",
    "current_l2_a": "current_l2",
    "current_l3_a": "current_l3",
    "voltage_l1_v": "voltage_l1",
    "voltage_l2_v": "voltage_l2",
    "voltage_l3_v": "voltage_l3",
    # amshan reports the cumulative registers in Wh under "*_total"
    "active_energy_import_kwh": "active_power_import_total",
    "active_energy_export_kwh": "active_power_export_total",
    "reactive_energy_import_kvarh": "reactive_power_import_total",
    "reactive_energy_export_kvarh": "reactive_power_export_total",
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meter_messages())
def test_amshan_agrees_with_the_encoder(message: tuple) -> None:
    pytest.importorskip("han", reason="amshan (test-only dependency) is not installed")
    manufacturer, phases, three_wire, list_kind, values, when = message
    frame = _encoder(manufacturer, phases, three_wire).encode(list_kind, values, when)
    theirs = _amshan_decode(frame)
    assert theirs["meter_manufacturer"] == manufacturer
    ours = decode_frame(frame).values
    for key, amshan_key in _AMSHAN_KEYS.items():
        if key not in ours:
            assert amshan_key not in theirs
            continue
        factor = 1000 if key.endswith(("_kwh", "_kvarh")) else 1
        assert math.isclose(theirs[amshan_key], ours[key] * factor, rel_tol=1e-9, abs_tol=1e-6), key
    if list_kind != "power-only":
        assert theirs["meter_id"] == METER_ID
        assert theirs["meter_type"] == METER_TYPE[manufacturer]
    if "meter_datetime" in theirs:
        clock: datetime = theirs["meter_datetime"]
        assert clock.replace(tzinfo=None) == when.replace(tzinfo=None)


def test_one_phase_kamstrup_keeps_null_padding_like_real_meters() -> None:
    frame = _encoder("Kamstrup", 1, False).encode(
        "instantaneous",
        dict.fromkeys(
            (
                "active_power_import_w",
                "active_power_export_w",
                "reactive_power_import_var",
                "reactive_power_export_var",
                "current_l1_a",
                "voltage_l1_v",
            ),
            1,
        ),
        datetime(2026, 2, 5, 13, 0, 10, tzinfo=OSLO),
    )
    assert frame[1:3] == b"\xa0\xba"  # same length as the real 1-phase capture (0xBA)
    assert b"\x00\x00\x00\x00\x09\x06\x01\x01\x20\x07\x00\xff" in frame  # IL2, IL3 null pairs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"current_l1_a": "x"}, "current_l1_a must be a number"),
        ({"active_power_import_w": -5}, "active_power_import_w = -5 does not fit"),
        ({"voltage_l2_v": None}, "voltage_l2_v must be a number"),
    ],
)
def test_encoder_explains_values_it_cannot_write(change: dict, message: str) -> None:
    from hanport.protocol import LocalProtocolError

    values = dict.fromkeys(_AMSHAN_KEYS, 1)
    values.update(change)
    with pytest.raises(LocalProtocolError, match=message):
        _encoder("Kamstrup", 3, False).encode(
            "instantaneous", values, datetime(2026, 1, 1, tzinfo=OSLO)
        )


def test_encoder_names_a_missing_value_and_an_unknown_list() -> None:
    from hanport.protocol import LocalProtocolError

    when = datetime(2026, 1, 1, tzinfo=OSLO)
    with pytest.raises(LocalProtocolError, match="needs a value for active_power_export_w"):
        _encoder("Aidon", 1, False).encode("instantaneous", {"active_power_import_w": 1}, when)
    with pytest.raises(LocalProtocolError, match="Kamstrup has no 'power-only' list"):
        _encoder("Kamstrup", 3, False).encode("power-only", {}, when)
    with pytest.raises(LocalProtocolError, match="aware datetime"):
        _encoder("Kaifa", 3, False).encode(
            "power-only", {"active_power_import_w": 1}, datetime(2026, 1, 1)
        )


def test_register_steps_are_the_resolutions_the_encoder_quantises_to() -> None:
    from hanport.protocol import LocalProtocolError, register_step

    assert register_step("Kamstrup", "current_l1_a") == 0.01
    assert register_step("Kamstrup", "active_energy_import_kwh") == 0.01  # 10 Wh
    assert register_step("Aidon", "voltage_l1_v") == 0.1
    assert register_step("Kaifa", "current_l1_a") == 0.001
    with pytest.raises(LocalProtocolError):
        register_step("Kamstrup", "power_factor")
