"""The meter model: push schedule per brand, daylight-saving days, registers vs. power."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from hanport.emulator.load import OSLO
from hanport.emulator.meter import BRANDS, Push, _delta_line_currents, hour_schedule

INSTANT, HOURLY, POWER = "instantaneous", "hourly-with-energy", "power-only"


def day(year: int, month: int, date: int) -> tuple[datetime, datetime]:
    """A local day from midnight to midnight (23, 24 or 25 hours long)."""
    start = datetime(year, month, date, tzinfo=OSLO)
    following = start.date() + timedelta(days=1)
    return start, datetime(following.year, following.month, following.day, tzinfo=OSLO)


def local(at: datetime) -> datetime:
    return at.astimezone(OSLO)


def test_kamstrup_day_has_8640_list1_and_24_list2_at_the_right_seconds(make_meter):
    meter = make_meter("kamstrup")
    start, end = day(2026, 1, 15)
    pushes = list(meter.model.pushes(start, end))
    list1 = [p for p in pushes if p.list_kind == INSTANT]
    list2 = [p for p in pushes if p.list_kind == HOURLY]
    assert len(list1) == 8640 and len(list2) == 24 and len(pushes) == 8664
    assert [p.at for p in list1] == [start + timedelta(seconds=10 * i) for i in range(8640)]
    assert [(local(p.at).hour, local(p.at).minute, local(p.at).second) for p in list2] == [
        (hour, 0, 5) for hour in range(24)
    ]
    assert all(a.at <= b.at for a, b in itertools.pairwise(pushes))


def test_kamstrup_hourly_second_is_configurable(make_meter):
    meter = make_meter("kamstrup", hourly_offset_ms=25_000)
    start = datetime(2026, 1, 15, 10, tzinfo=OSLO)
    list2 = [
        p for p in meter.model.pushes(start, start + timedelta(hours=3)) if p.list_kind == HOURLY
    ]
    assert [local(p.at).strftime("%H:%M:%S") for p in list2] == ["10:00:25", "11:00:25", "12:00:25"]


@pytest.mark.parametrize(
    ("brand", "period_ms", "expected"),
    [
        ("aidon", 2500, {POWER: 25_920, INSTANT: 8_616, HOURLY: 24}),
        ("kaifa", 2000, {POWER: 34_560, INSTANT: 8_616, HOURLY: 24}),
    ],
)
def test_aidon_and_kaifa_cadence(make_meter, brand, period_ms, expected):
    meter = make_meter(brand)
    start, end = day(2026, 2, 2)
    pushes = list(meter.model.pushes(start, end))
    assert Counter(p.list_kind for p in pushes) == expected
    # One push per slot, the hourly list at hh:00:10 in place of that list 2, list 2 on x0 s.
    step = timedelta(milliseconds=period_ms)
    assert [p.at for p in pushes] == [start + i * step for i in range(len(pushes))]
    for push in pushes:
        at = local(push.at)
        if push.list_kind == HOURLY:
            assert (at.minute, at.second, at.microsecond) == (0, 10, 0)
        elif push.list_kind == INSTANT:
            assert at.second % 10 == 0 and at.microsecond == 0


@pytest.mark.parametrize("brand", ["kamstrup", "aidon", "kaifa"])
@pytest.mark.parametrize(("date", "hours"), [((2026, 3, 29), 23), ((2026, 10, 25), 25)])
def test_daylight_saving_days_have_23_and_25_hourly_lists(make_meter, brand, date, hours):
    meter = make_meter(brand)
    start, end = day(*date)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    hourly = [p for p in meter.model.pushes(start, end) if p.list_kind == HOURLY]
    assert len(hourly) == hours
    assert len({p.at for p in hourly}) == hours


def test_hourly_offset_must_fit_the_brand():
    with pytest.raises(ValueError, match="multiple"):
        hour_schedule(BRANDS["aidon"], 5_000)
    with pytest.raises(ValueError, match="first minute"):
        hour_schedule(BRANDS["kamstrup"], 61_000)


@pytest.mark.parametrize("brand", ["kamstrup", "aidon", "kaifa"])
def test_register_differences_equal_integrated_power(make_meter, brand):
    """Hourly register differences equal the sum of emitted power x slot, within resolution."""
    meter = make_meter(brand, prosumer=True, seed=3)
    spec = meter.model.spec
    start = datetime(2026, 6, 20, 6, tzinfo=OSLO)  # import in the morning, export at midday
    integrals: dict[datetime, Counter[str]] = {}  # hour -> W x ms over its slots
    hourly = {}  # hour -> registers at hh:00:00
    seen_slots = set()
    for push in meter.model.pushes(start, start + timedelta(hours=10, minutes=1)):
        hour = push.at.replace(minute=0, second=0, microsecond=0)
        if push.list_kind == HOURLY:
            hourly[hour] = push.registers
        slot = round(push.at.timestamp() * 1000) // spec.slot_ms
        if slot in seen_slots:
            continue  # Kamstrup's list 2 repeats the power of its slot: count it once
        seen_slots.add(slot)
        integral = integrals.setdefault(hour, Counter())
        integral["import"] += push.sample.p_import * spec.slot_ms
        integral["export"] += push.sample.p_export * spec.slot_ms
        integral["q_import"] += push.sample.q_import * spec.slot_ms
    unit = meter.model.unit_w_ms
    assert len(hourly) == 11
    exported = False
    for hour, next_hour in itertools.pairwise(sorted(hourly)):
        before, after, integral = hourly[hour], hourly[next_hour], integrals[hour]
        for name, register in (
            ("import", "active_import"),
            ("export", "active_export"),
            ("q_import", "reactive_import"),
        ):
            difference = getattr(after, register) - getattr(before, register)
            assert abs(difference - integral[name] / unit) <= 1, (name, difference, integral)
        exported = exported or after.active_export > before.active_export
    assert exported, "a June prosumer exports around midday"


def test_extra_load_raises_power_and_registers(make_meter):
    plain, loaded = make_meter("kamstrup"), make_meter("kamstrup")
    loaded.model.extra_import_w = 5000
    start = datetime(2026, 2, 2, 12, tzinfo=OSLO)
    a = list(plain.model.pushes(start, start + timedelta(hours=1, seconds=6)))
    b = list(loaded.model.pushes(start, start + timedelta(hours=1, seconds=6)))
    assert all(
        y.sample.p_import - x.sample.p_import in (4999, 5000, 5001)
        for x, y in zip(a, b, strict=True)
    )
    gained = b[-1].registers.active_import - a[-1].registers.active_import
    assert gained == pytest.approx(500, abs=1)  # 5 kWh in 10 Wh units


@pytest.mark.parametrize(
    ("brand", "phases", "three_wire"), [("aidon", 3, True), ("kaifa", 3, True)]
)
def test_three_wire_quirks(make_meter, brand, phases, three_wire):
    meter = make_meter(brand, phases=phases, three_wire=three_wire)
    push = next(
        p for p in meter.model.pushes(datetime(2026, 2, 2, tzinfo=OSLO)) if p.list_kind == INSTANT
    )
    values = meter.model.values(push)
    if brand == "aidon":
        assert "current_l2_a" not in values and "voltage_l2_v" in values
    else:
        assert values["voltage_l2_v"] == 0 and "current_l2_a" in values


def test_delta_line_currents():
    # balanced resistive load: P = sqrt(3) x U x I on every line
    balanced = _delta_line_currents(1000, 0, 230, 1000, 0, 230, 1000, 0, 230)
    assert balanced == pytest.approx((3000 / (math.sqrt(3) * 230),) * 3)
    # a 3 kW heater between L3 and L1 loads L1 and L3 alone (~13 A, as a real 6841121 shows)
    heater = _delta_line_currents(0, 0, 230, 0, 0, 230, 3000, 0, 230)
    assert heater == pytest.approx((3000 / 230, 0, 3000 / 230))


@pytest.mark.parametrize("brand", ["kamstrup", "aidon", "kaifa"])
def test_three_wire_currents_carry_the_power(make_meter, brand):
    """Two-element (Blondel) measurement on a 3-wire meter: the power is U12 x I1 + U32 x I3 at
    most, so line currents that add up to less than the power cannot be (review #5)."""
    meter = make_meter(brand, phases=3, three_wire=True, prosumer=True, seed=5)
    model = meter.model
    i_scale = 10**model.spec.current_decimals
    u_scale = 10**model.spec.voltage_decimals
    start = datetime(2026, 1, 20, tzinfo=OSLO)
    ratios = []
    for push in model.pushes(start, start + timedelta(days=1)):
        if push.list_kind != INSTANT:
            continue
        sample = push.sample
        power = math.hypot(sample.p_import - sample.p_export, sample.q_import - sample.q_export)
        assert sample.i_l3 is not None and sample.u_l3 is not None
        two_element = (
            sample.u_l1 / u_scale * sample.i_l1 / i_scale
            + sample.u_l3 / u_scale * sample.i_l3 / i_scale
        )
        # rounding: a current unit and a volt unit on each of two elements
        slack = 2 * (240 / i_scale + 100 / u_scale)
        assert power <= two_element + slack, push.at
        if power > 1000:
            ratios.append(two_element / power)
    # A household's branches are far from all on one line pair: the elements see more than P.
    assert ratios and sum(ratios) / len(ratios) > 1.1


# -- restarts ----------------------------------------------------------------------------------

RESTART_START = datetime(2026, 3, 2, 7, 58, tzinfo=OSLO)


def _stop_after(pushes: list[Push], at: datetime, kind: str) -> int:
    """Index of the push ``kind`` at ``at``: the last one the stopped meter made."""
    return next(
        i for i, p in enumerate(pushes) if p.at == at.astimezone(UTC) and p.list_kind == kind
    )


@pytest.mark.parametrize(
    ("brand", "stop_at", "stop_kind"),
    [
        # between list 1 and list 2 of the same slot (hh:00:00 and hh:00:05)
        ("kamstrup", datetime(2026, 3, 2, 8, 0, tzinfo=OSLO), INSTANT),
        ("kamstrup", datetime(2026, 3, 2, 8, 37, 40, tzinfo=OSLO), INSTANT),
        # Aidon mid-hour, just before its hourly list at hh:00:10
        ("aidon", datetime(2026, 3, 2, 9, 0, 7, 500_000, tzinfo=OSLO), POWER),
        ("kaifa", datetime(2026, 3, 2, 8, 59, 58, tzinfo=OSLO), POWER),
    ],
)
def test_a_resumed_meter_continues_exactly_as_if_it_had_not_stopped(
    make_meter, brand, stop_at, stop_kind
):
    end = RESTART_START + timedelta(hours=3)
    reference = list(make_meter(brand).model.pushes(RESTART_START, end))

    first = make_meter(brand).model
    before: list[Push] = []
    for push in first.pushes(RESTART_START, end):
        before.append(push)
        if push.at == stop_at.astimezone(UTC) and push.list_kind == stop_kind:
            break
    state = first.state(before[-1].at)
    assert state is not None

    second = make_meter(brand).model
    second.resume(state)
    after = list(second.pushes(RESTART_START, end))  # an earlier start gives way to the state
    assert before + after == reference
    assert len(before) == _stop_after(reference, stop_at, stop_kind) + 1


def test_the_time_a_meter_was_stopped_is_counted_as_consumption(make_meter):
    """Restarted two hours later, the registers are where an uninterrupted meter's would be."""
    end = RESTART_START + timedelta(hours=5)
    reference = list(make_meter("aidon").model.pushes(RESTART_START, end))
    first = make_meter("aidon").model
    made = list(first.pushes(RESTART_START, RESTART_START + timedelta(minutes=42, seconds=1)))
    state = first.state(made[-1].at)
    assert state is not None

    later = RESTART_START + timedelta(hours=2, minutes=30)
    second = make_meter("aidon").model
    second.resume(state)
    after = list(second.pushes(later, end))
    assert after[0].at == later.astimezone(UTC)
    assert after == [p for p in reference if p.at >= later]
    saved = [energy // first.unit_w_ms for energy in state.energy_w_ms]
    hourly = [p.registers for p in after if p.list_kind == HOURLY]
    assert hourly
    for registers in hourly:
        assert registers is not None
        assert all(now >= then for now, then in zip(registers, saved, strict=True))


def test_a_state_resumes_only_on_a_slot_boundary(make_meter):
    meter = make_meter("kamstrup").model
    list(meter.pushes(RESTART_START, RESTART_START + timedelta(minutes=1)))
    state = meter.state(None)
    assert state is not None
    with pytest.raises(ValueError, match="slot boundary"):
        make_meter("kamstrup").model.resume(
            state._replace(integrated_to=state.integrated_to + timedelta(seconds=3))
        )
