"""Adversarial and edge-case input: every case here once broke or fooled the stream."""

from __future__ import annotations

from datetime import datetime

import pytest

from hanport.protocol import (
    DecodeError,
    FrameRejected,
    HanEncoder,
    HanStream,
    Keys,
    LocalProtocolError,
    Reading,
    ScalerOverride,
    decode_apdu,
    decode_frame,
)
from hanport.protocol._crc import crc16_arc, x25_bytes
from hanport.protocol._hdlc import frame_prefix

from .strategies import OSLO

WHEN = datetime(2026, 3, 1, 12, 0, 10, tzinfo=OSLO)
VALUES = {
    "active_power_import_w": 1500,
    "active_power_export_w": 0,
    "reactive_power_import_var": 20,
    "reactive_power_export_var": 0,
    "current_l1_a": 3.5,
    "current_l2_a": 1.25,
    "current_l3_a": 0.5,
    "voltage_l1_v": 231,
    "voltage_l2_v": 232,
    "voltage_l3_v": 229,
    "active_energy_import_kwh": 123.45,
    "active_energy_export_kwh": 0,
    "reactive_energy_import_kvarh": 1.5,
    "reactive_energy_export_kvarh": 2.5,
}


def frame(
    manufacturer: str = "Kamstrup", list_kind: str = "instantaneous", **kwargs: object
) -> bytes:
    meter_type = str(kwargs.pop("meter_type", "6841121BN243101040"))
    encoder = HanEncoder(manufacturer, meter_id="5706567274389702", meter_type=meter_type, **kwargs)  # type: ignore[arg-type]
    return encoder.encode(list_kind, VALUES, WHEN)


def hdlc(info: bytes, *, segmented: bool = False, source: bytes = b"\x21") -> bytes:
    body = frame_prefix(b"\x2b", source, 0x13, len(info), segmented=segmented) + info
    return b"\x7e" + body + x25_bytes(body) + b"\x7e"


def p1(lines: list[str], ident: str = "KAM5") -> bytes:
    text = f"/{ident}\r\n\r\n" + "".join(f"{line}\r\n" for line in lines) + "!"
    return (text + f"{crc16_arc(text.encode()):04X}\r\n").encode()


def run(
    *chunks: bytes, keys: Keys | None = None
) -> tuple[list[Reading], list[FrameRejected], HanStream]:
    stream = HanStream(keys=keys)
    events = [event for chunk in chunks for event in stream.feed(chunk)]
    events += stream.feed(b"")
    return (
        [e for e in events if isinstance(e, Reading)],
        [e for e in events if isinstance(e, FrameRejected)],
        stream,
    )


@pytest.mark.parametrize(
    "value", ["Infinity*kW", "sNaN*kW", "NaN*kW", "1E99999999*kW", "1E900000*kW", "1E5000*kW"]
)
def test_p1_numbers_that_are_not_register_values_are_rejected(value: str) -> None:
    readings, rejected, _ = run(p1([f"1-0:1.7.0({value})"]))
    assert readings == []
    assert rejected[0].kind == "undecodable"
    assert "not a register value" in rejected[0].reason


def test_p1_identification_may_have_lowercase_letters() -> None:
    readings, _, _ = run(p1(["1-0:1.7.0(0001.500*kW)"], ident="ISk5\\2MT382-1000"))
    assert readings[0].values["active_power_import_w"] == 1500
    assert readings[0].values["p1_identification"] == "ISk5\\2MT382-1000"


def test_a_stray_p1_start_in_binary_data_neither_delays_nor_swallows_frames() -> None:
    frames = [frame("Kaifa") for _ in range(3)]
    stream = HanStream()
    assert [type(e) for e in stream.feed(b"/ABC1" + frames[0])] == [Reading]
    readings, _, _ = run(b"/ABC1" + b"".join(frames))
    assert len(readings) == 3


def test_repeated_p1_starts_are_garbage_not_a_flood_of_events() -> None:
    _, rejected, _ = run(b"/ABC1" * 20_000)
    assert len(rejected) <= 1
    assert sum(len(r.raw) for r in rejected) <= 16384


def test_nested_general_block_transfer_is_rejected_not_recursed() -> None:
    inner = bytes.fromhex("0f00000000000201060000000a")
    for _ in range(1200):
        inner = b"\xe0\x80\x00\x01\x00\x00" + (b"\x82" + len(inner).to_bytes(2, "big")) + inner
    info = b"\xe6\xe7\x00" + inner
    pieces = [info[i : i + 1500] for i in range(0, len(info), 1500)]
    frames = [hdlc(piece, segmented=i < len(pieces) - 1) for i, piece in enumerate(pieces)]
    readings, rejected, _ = run(b"".join(frames))
    assert readings == []
    assert [r.reason for r in rejected] == ["general block transfer inside another"]
    assert rejected[0].offset == 0 and rejected[0].raw == b"".join(frames)
    with pytest.raises(DecodeError):
        decode_apdu(inner)


def test_good_frame_after_a_truncated_one_of_another_size_survives_end_of_input() -> None:
    truncated = frame("Kamstrup", "hourly-with-energy")[:60]
    good = HanEncoder("Aidon", meter_id="7359992890941742", meter_type="6515").encode(
        "power-only", VALUES, WHEN
    )
    readings, rejected, stream = run(truncated + good)
    assert [r.offset for r in readings] == [60]
    assert rejected[0].kind == "truncated"
    assert stream.stats.bytes_skipped == 0  # the truncated bytes were reported, not skipped


def test_a_flag_shared_by_two_frames_across_a_chunk_boundary() -> None:
    first, second = frame(), frame("Kamstrup", "hourly-with-energy")
    readings, rejected, stream = run(
        first, second[1:]
    )  # the second frame reuses the first's closing flag
    assert len(readings) == 2 and not rejected
    assert stream.stats.bytes_skipped == 0


def test_an_unfinished_segmented_message_does_not_corrupt_the_next_frame() -> None:
    orphan = hdlc(b"\xe6\xe7\x00\x0f\x00\x00\x00\x00\x00\x02\x19", segmented=True)
    readings, rejected, _ = run(orphan + frame())
    assert len(readings) == 1 and readings[0].manufacturer == "Kamstrup"
    assert rejected[0].kind == "truncated" and rejected[0].offset == 0


def test_segmented_hdlc_message_is_joined_with_its_first_offset_and_all_frames() -> None:
    info = frame()[8:-3]  # LLC + APDU of a Kamstrup list 1
    parts = [hdlc(info[:100], segmented=True), hdlc(info[100:])]
    readings, rejected, _ = run(b"\x00\x00" + b"".join(parts))
    assert not rejected
    assert readings[0].offset == 2
    assert readings[0].frame == b"".join(parts)


def test_endless_segments_stay_bounded() -> None:
    segment = hdlc(b"\xe6\xe7\x00" + bytes(1000), segmented=True)
    stream = HanStream()
    for _ in range(200):
        stream.feed(segment)
    pending = stream._segmented  # white-box: the memory bound itself
    assert pending is None or pending.size <= 65536 + 1003


def _mbus(ci: int, data: bytes) -> bytes:
    body = bytes((0x53, 0xFF, ci, 0x01, 0x67)) + data
    return bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


def test_mbus_segments_out_of_sequence_are_reported_at_their_own_offset() -> None:
    apdu = frame()[11:-3]  # the plaintext APDU
    stray_last = _mbus(0x11, apdu[50:])
    good = _mbus(0x00, apdu[:50]) + _mbus(0x11, apdu[50:])
    readings, rejected, _ = run(stray_last + good)
    assert [r.offset for r in readings] == [len(stray_last)]
    assert rejected[0].offset == 0 and "without its first segment" in rejected[0].reason


def test_kaifa_six_character_meter_type_is_not_mistaken_for_an_obis_code() -> None:
    reading = decode_frame(frame("Kaifa", meter_type="MA105H"))
    assert reading.values["meter_type"] == "MA105H"
    assert reading.values["current_l1_a"] == 3.5
    assert not reading.unknown


def test_authentication_only_frames_are_verified() -> None:
    from hanport.protocol._apdu import build_ciphered

    keys = Keys(bytes(range(16)), bytes(range(16, 32)))
    plain = frame()[11:-3]
    ciphered = bytearray(build_ciphered(keys, b"KAM12345", 0x10, 7, plain))
    readings, rejected, _ = run(hdlc(b"\xe6\xe7\x00" + bytes(ciphered)), keys=keys)
    assert len(readings) == 1 and not rejected
    ciphered[-1] ^= 1  # break the tag
    readings, rejected, stream = run(hdlc(b"\xe6\xe7\x00" + bytes(ciphered)), keys=keys)
    assert readings == [] and rejected[0].kind == "decrypt"
    assert stream.stats.decrypt_errors == 1


def test_a_wrong_key_counts_as_a_decryption_error() -> None:
    keys = Keys(bytes(range(16)), bytes(range(16, 32)))
    encrypted = HanEncoder(
        "Kamstrup", meter_id="5706567274389702", meter_type="x", keys=keys
    ).encode("instantaneous", VALUES, WHEN)
    _, rejected, stream = run(encrypted, keys=Keys(bytes(16)))
    assert rejected[0].kind == "decrypt"
    assert stream.stats.decrypt_errors == 1 and stream.stats.undecodable == 0


def test_scaler_overrides_are_range_checked() -> None:
    with pytest.raises(LocalProtocolError, match="power exponent 5000"):
        ScalerOverride(power=5000)
    assert ScalerOverride(current=-3).as_dict() == {"current": -3}


def test_readings_are_immutable() -> None:
    reading = decode_frame(frame())
    with pytest.raises(TypeError):
        reading.values["active_power_import_w"] = -1  # type: ignore[index]
    with pytest.raises(AttributeError):
        reading.manufacturer = "x"  # type: ignore[misc]


def test_receive_after_end_of_input_is_api_misuse() -> None:
    stream = HanStream()
    stream.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        stream.receive_data(b"\x7e")
