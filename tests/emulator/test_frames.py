"""Every frame the emulator sends, decoded alike by hanport and amshan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import METER_KINDS, amshan_decode
from hanport.emulator.frames import FrameWriter
from hanport.emulator.load import OSLO
from hanport.protocol import HanEncoder, HanStream, Keys

# amshan key -> (decode-contract key, factor from the contract's unit to amshan's)
_AMSHAN_KEYS = {
    "active_power_import": ("active_power_import_w", 1),
    "active_power_export": ("active_power_export_w", 1),
    "reactive_power_import": ("reactive_power_import_var", 1),
    "reactive_power_export": ("reactive_power_export_var", 1),
    "current_l1": ("current_l1_a", 1),
    "current_l2": ("current_l2_a", 1),
    "current_l3": ("current_l3_a", 1),
    "voltage_l1": ("voltage_l1_v", 1),
    "voltage_l2": ("voltage_l2_v", 1),
    "voltage_l3": ("voltage_l3_v", 1),
    "active_power_import_total": ("active_energy_import_kwh", 1000),  # amshan: Wh
    "active_power_export_total": ("active_energy_export_kwh", 1000),
    "reactive_power_import_total": ("reactive_energy_import_kvarh", 1000),
    "reactive_power_export_total": ("reactive_energy_export_kvarh", 1000),
}


@pytest.mark.parametrize(("brand", "phases", "three_wire"), METER_KINDS)
def test_every_frame_decodes_to_what_the_model_pushed(make_meter, brand, phases, three_wire):
    """Two hours across the autumn change, as one byte stream: hanport reads back every push."""
    meter = make_meter(brand, phases=phases, three_wire=three_wire, prosumer=True)
    start = datetime(2026, 10, 25, 1, 58, tzinfo=OSLO)
    pushes = list(meter.model.pushes(start, start + timedelta(hours=2, minutes=4)))
    stream = HanStream()
    readings = stream.feed(b"".join(meter.writer.frame(push) for push in pushes))
    assert len(readings) == len(pushes) == stream.stats.frames_ok
    assert stream.stats.crc_errors == stream.stats.undecodable == stream.stats.bytes_skipped == 0
    for push, reading in zip(pushes, readings, strict=True):
        expected = meter.model.values(push)
        clock = expected.pop("meter_clock", None)
        if isinstance(clock, datetime):  # decoded as local time without an offset
            assert reading.values["meter_clock"] == clock.replace(tzinfo=None).isoformat()
        assert reading.list_kind == push.list_kind
        assert {key: reading.values.get(key) for key in expected} == expected, push.at
        if push.list_kind != "power-only":
            assert reading.meter_id == meter.encoder.meter_id
    assert {push.list_kind for push in pushes} == set(meter.model.spec.lists)


@pytest.mark.parametrize(("brand", "phases", "three_wire"), METER_KINDS)
def test_amshan_decodes_every_frame_kind_and_agrees(make_meter, brand, phases, three_wire):
    meter = make_meter(brand, phases=phases, three_wire=three_wire, prosumer=True, seed=9)
    start = datetime(2026, 6, 1, 12, 58, 30, tzinfo=OSLO)  # an hourly list inside the window
    kinds = set()
    for push in meter.model.pushes(start, start + timedelta(minutes=2)):
        decoded = amshan_decode(meter.writer.frame(push))
        expected = meter.model.values(push)
        expected.pop("meter_clock", None)  # amshan's clock is checked with the DST-day test
        assert decoded["meter_manufacturer"] == meter.model.spec.manufacturer
        if push.list_kind != "power-only":
            assert decoded["meter_id"] == meter.encoder.meter_id
            assert decoded["meter_type"] == meter.model.meter_type
        theirs = {
            ours: decoded[key] / factor
            for key, (ours, factor) in _AMSHAN_KEYS.items()
            if key in decoded
        }
        assert theirs == pytest.approx(expected, abs=1e-9), push.list_kind
        kinds.add(push.list_kind)
    assert kinds == set(meter.model.spec.lists)


def test_hourly_clock_across_the_autumn_change(make_meter):
    meter = make_meter("kamstrup")
    start = datetime(2026, 10, 25, 1, tzinfo=OSLO)
    end = start + timedelta(hours=3)  # wall-clock arithmetic: 01:00 -> 04:00, four real hours
    stream = HanStream()
    clocks = [
        (reading.values["meter_clock"], reading.values["meter_clock_status"])
        for push in meter.model.pushes(start, end)
        if push.list_kind == "hourly-with-energy"
        for reading in stream.feed(meter.writer.frame(push))
    ]
    # 02:00 local happens twice. Norwegian Kamstrup firmware leaves the status at 0x00 in summer
    # time too, so the two are told apart only by their order.
    assert [clock for clock, _ in clocks] == [
        "2026-10-25T01:00:05",
        "2026-10-25T02:00:05",
        "2026-10-25T02:00:05",
        "2026-10-25T03:00:05",
    ]
    assert [status for _, status in clocks] == ["0x00"] * 4


def _local_hours(day: datetime) -> list[datetime]:
    """The start of every hour of a local day, one per real hour (23 or 25 across DST)."""
    first = day.astimezone(UTC)
    last = (day + timedelta(days=1)).astimezone(UTC)
    return [
        (first + timedelta(hours=n)).astimezone(OSLO)
        for n in range(int((last - first) / timedelta(hours=1)))
    ]


@pytest.mark.parametrize(("brand", "second"), [("aidon", "00"), ("kaifa", "10")])
@pytest.mark.parametrize(
    "day", [datetime(2026, 3, 29, tzinfo=OSLO), datetime(2026, 10, 25, tzinfo=OSLO)]
)
def test_hourly_clock_stamps_on_daylight_saving_days(make_meter, brand, second, day):
    """Real Norwegian samples: Aidon list 3 says hh:00:00 (the hour its registers belong to),
    Kaifa list 3 hh:00:10 (when it is pushed); status 0x00 in summer time too."""
    meter = make_meter(brand)
    stream = HanStream()
    readings = [
        reading
        for push in meter.model.pushes(day, day + timedelta(days=1))
        if push.list_kind == "hourly-with-energy"
        for reading in stream.feed(meter.writer.frame(push))
    ]
    hours = _local_hours(day)
    assert len(hours) in (23, 25)
    assert [r.values["meter_clock"] for r in readings] == [
        f"{hour.strftime('%Y-%m-%dT%H')}:00:{second}" for hour in hours
    ]
    assert {r.values["meter_clock_status"] for r in readings} == {"0x00"}
    # amshan reads the same clock (it attaches the zone to it)
    first = amshan_decode(
        meter.writer.frame(
            next(
                p
                for p in make_meter(brand).model.pushes(day, day + timedelta(hours=1))
                if p.list_kind == "hourly-with-energy"
            )
        )
    )
    assert (
        first["meter_datetime"].replace(tzinfo=None).isoformat() == f"{day.date()}T00:00:{second}"
    )


def test_encrypted_meter_frames_decrypt_with_the_keys(make_meter):
    meter = make_meter("kamstrup")
    keys = Keys(bytes(range(16)), bytes(range(16, 32)))
    encoder = HanEncoder(
        "Kamstrup",
        phases=3,
        meter_id="5706567274389702",
        meter_type=meter.model.meter_type,
        keys=keys,
        system_title=b"KAMEMU01",
    )
    writer = FrameWriter(meter.model, encoder)
    stream = HanStream(keys=keys)
    start = datetime(2026, 2, 2, 8, tzinfo=OSLO)
    readings = [
        reading
        for push in meter.model.pushes(start, start + timedelta(minutes=1))
        for reading in stream.feed(writer.frame(push))
    ]
    assert len(readings) == 7 and stream.stats.decrypt_errors == 0
    counters = [reading.frame_counter for reading in readings]
    assert counters == sorted(set(counters))  # a fresh invocation counter for every frame
