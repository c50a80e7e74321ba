"""Compiled templates cover layouts, not meters, and decode exactly like the general path."""

from __future__ import annotations

import json
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanport.protocol import HanEncoder, HanStream, Reading
from hanport.protocol._cosem import clock_fields, parse_datetime
from hanport.protocol._decode import ApduDecoder
from hanport.protocol._template_cache import TemplateCache

from .strategies import OSLO, meter_messages

compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

#: Kamstrup type numbers that lead the lists to different scalers: Norway (energy in 10 Wh),
#: Sweden (Wh), Finland (energy left raw) and a CT meter (current in mA)
KAMSTRUP_TYPES = (
    "6841121BN243101040",
    "6841131BN243101090",
    "6841121BN243101086",
    "6851121BN243101040",
)
OTHER_TYPES = {"Aidon": ("6534", "6525", "6515"), "Kaifa": ("MA304H3E", "MA105H2E")}
#: identity texts of every shape: GS1 numbers, FLAG-prefixed numbers (they name a
#: manufacturer), padded, and texts a template must refuse (not printable ASCII)
_IDENTITY_TEXT = st.one_of(
    st.from_regex(r"\A[0-9]{16}\Z"),
    st.from_regex(r"\A(KAM|KFM|ADN|LGZ)[0-9]{13}\Z"),
    st.from_regex(r"\A [0-9]{1,14} \Z"),
    st.text(st.characters(min_codepoint=0, max_codepoint=0xFF), min_size=1, max_size=18),
)


@st.composite
def fleet_frames(draw: st.DrawFn) -> list[bytes]:
    """Frames of meters of several brands, models and identities, interleaved: each frame
    comes from a meter already seen or from a new one."""
    meters: dict[str, list[HanEncoder]] = {}
    frames = []
    for _ in range(draw(st.integers(2, 12))):
        manufacturer, phases, three_wire, list_kind, values, when = draw(meter_messages())
        seen = meters.setdefault(manufacturer, [])
        if seen and draw(st.booleans()):
            encoder = draw(st.sampled_from(tuple(seen)))
        else:
            meter_type = draw(
                st.sampled_from(KAMSTRUP_TYPES)
                if manufacturer == "Kamstrup"
                else st.one_of(st.sampled_from(OTHER_TYPES[manufacturer]), _IDENTITY_TEXT)
            )
            encoder = HanEncoder(
                manufacturer,
                meter_id=draw(_IDENTITY_TEXT),
                meter_type=meter_type,
                phases=phases,
                three_wire=three_wire,
            )
            seen.append(encoder)
        frames.append(encoder.encode(list_kind, values, when))
    return frames


def _general(frame: bytes) -> Reading:
    (reading,) = HanStream().feed(frame)  # a first frame never has a template
    assert isinstance(reading, Reading)
    return reading


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet_frames())
def test_templates_decode_exactly_like_the_general_path(frames: list[bytes]) -> None:
    stream = HanStream()
    templated = stream.feed(b"".join(frames))
    assert len(templated) == len(frames)
    for frame, reading in zip(frames, templated, strict=True):
        general = _general(frame)
        assert isinstance(reading, Reading)
        # the same values of the same types in the same order, and the same JSON text
        assert [(k, type(v), v) for k, v in reading.values.items()] == [
            (k, type(v), v) for k, v in general.values.items()
        ]
        assert reading.to_json_text() == general.to_json_text() == compact(general.to_json())
        assert dict(reading.unknown) == dict(general.unknown)
        assert (reading.manufacturer, reading.list_kind) == (
            general.manufacturer,
            general.list_kind,
        )


def _frame(manufacturer: str, meter_id: str, meter_type: str, list_kind: str, power: int) -> bytes:
    encoder = HanEncoder(manufacturer, meter_id=meter_id, meter_type=meter_type, phases=3)
    values = dict.fromkeys(
        (
            "active_power_export_w",
            "reactive_power_import_var",
            "reactive_power_export_var",
            "current_l1_a",
            "current_l2_a",
            "current_l3_a",
            "active_energy_import_kwh",
            "active_energy_export_kwh",
            "reactive_energy_import_kvarh",
            "reactive_energy_export_kvarh",
        ),
        1,
    )
    values |= {"active_power_import_w": power, "voltage_l1_v": 230}
    values |= {"voltage_l2_v": 231, "voltage_l3_v": 229}
    return encoder.encode(list_kind, values, datetime(2026, 3, 1, 12, tzinfo=OSLO))


def _apdu(frame: bytes) -> bytes:
    """The APDU of an encoder's frame: after the LLC header E6 E7 00, before FCS and flag."""
    return frame[frame.index(b"\xe6\xe7\x00") + 3 : -3]


def test_a_new_meter_with_a_known_layout_hits_the_template() -> None:
    decoder = ApduDecoder()
    first = _apdu(_frame("Kamstrup", "5706567274389702", KAMSTRUP_TYPES[0], "instantaneous", 1))
    decoder.decode(first, hint="Kamstrup")
    assert len(decoder._templates) == 1
    other = _apdu(_frame("Kamstrup", "5706567000000001", "6841121BN243101041", "instantaneous", 2))
    found = decoder._templates.find(other, "Kamstrup")
    assert found is not None
    values = found.values
    assert values["meter_id"] == "5706567000000001"
    assert values["meter_type"] == "6841121BN243101041"
    assert values["active_power_import_w"] == 2


def test_a_type_with_other_scalers_gets_its_own_template() -> None:
    decoder = ApduDecoder()
    norwegian = _apdu(_frame("Kamstrup", "5706567274389702", KAMSTRUP_TYPES[0], "instantaneous", 1))
    ct_meter = _apdu(_frame("Kamstrup", "5706567274389702", KAMSTRUP_TYPES[3], "instantaneous", 1))
    decoder.decode(norwegian, hint="Kamstrup")
    assert decoder._templates.find(ct_meter, "Kamstrup") is None  # mA, not 0.01 A
    reading = decoder.decode(ct_meter, hint="Kamstrup")
    assert reading.values["current_l1_a"] == 0.1  # the encoder wrote 100 (1 A in 0.01 A)
    assert len(decoder._templates) == 2
    assert decoder._templates.find(norwegian, "Kamstrup") is not None


def test_a_text_that_is_not_printable_goes_the_general_way() -> None:
    decoder = ApduDecoder()
    decoder.decode(
        _apdu(_frame("Kamstrup", "5706567274389702", KAMSTRUP_TYPES[0], "instantaneous", 1)),
        hint="Kamstrup",
    )
    odd = _apdu(_frame("Kamstrup", "570656727438970\xd8", KAMSTRUP_TYPES[0], "instantaneous", 1))
    assert decoder._templates.find(odd, "Kamstrup") is None
    assert decoder.decode(odd, hint="Kamstrup").values["meter_id"] == "570656727438970\xd8"


def test_the_least_recently_used_template_goes_first() -> None:
    decoder = ApduDecoder(max_templates=2)
    kinds = ("instantaneous", "hourly-with-energy")
    apdus = {
        (meter_type, kind): _apdu(_frame("Kamstrup", "5706567274389702", meter_type, kind, 1))
        for meter_type in KAMSTRUP_TYPES[:2]
        for kind in kinds
    }
    first, second, third = list(apdus.values())[:3]
    for apdu in (first, second, first, third):  # `second` is used longest ago when `third` comes
        decoder.decode(apdu, hint="Kamstrup")
    cache: TemplateCache = decoder._templates
    assert len(cache) == 2
    assert cache.find(first, "Kamstrup") is not None
    assert cache.find(third, "Kamstrup") is not None
    assert cache.find(second, "Kamstrup") is None


def test_no_templates_when_switched_off() -> None:
    decoder = ApduDecoder(max_templates=0)
    apdu = _apdu(_frame("Aidon", "7359992890941742", "6534", "instantaneous", 1))
    for _ in range(3):
        decoder.decode(apdu, hint="Aidon")
    assert len(decoder._templates) == 0


@settings(max_examples=500, deadline=None)
@given(
    st.binary(min_size=7, max_size=7),
    st.integers(0, 255),
    st.binary(min_size=4, max_size=4),
)
def test_a_clock_in_a_template_reads_as_the_general_path_reads_it(
    minute: bytes, second: int, rest: bytes
) -> None:
    # clock_fields keeps the date-time's minute and zone from one frame to the next
    raw = minute + bytes((second,)) + rest
    for _ in range(2):
        clock = parse_datetime(raw)
        expected = (
            None if clock is None else (clock.iso(), clock.deviation_min, clock.status_text())
        )
        assert clock_fields(raw) == expected
