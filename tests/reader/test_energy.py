"""Pure energy arithmetic: booking, this hour, capacity tariff."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanport.reader.energy import (
    DEFAULT_CAPACITY_STEPS,
    HOUR,
    LOCAL_TZ,
    CapacityStep,
    RegisterPoint,
    book_hours,
    capacity_tariff,
    integrate_power_by_hour,
    local_iso,
    parse_local,
    this_hour,
)

T0 = int(dt.datetime(2026, 1, 5, tzinfo=LOCAL_TZ).timestamp())


def test_consecutive_registers_book_the_exact_difference() -> None:
    regs = [RegisterPoint(T0, 100.0, 5.0), RegisterPoint(T0 + HOUR, 102.5, 5.25)]
    (hour,) = book_hours(regs, {}, [T0])
    assert (hour.start, hour.import_kwh, hour.export_kwh, hour.estimated) == (T0, 2.5, 0.25, False)


def test_missing_hourly_list_is_split_by_power_not_doubled() -> None:
    regs = [RegisterPoint(T0, 100.0, 0.0), RegisterPoint(T0 + 2 * HOUR, 104.0, 0.0)]
    power = {T0: (1.0, 0.0), T0 + HOUR: (3.0, 0.0)}
    first, second = book_hours(regs, power, [T0, T0 + HOUR])
    assert first.import_kwh == pytest.approx(1.0) and second.import_kwh == pytest.approx(3.0)
    assert first.estimated and second.estimated
    assert first.import_kwh + second.import_kwh == pytest.approx(4.0)


def test_hour_without_registers_is_estimated_from_power() -> None:
    (hour,) = book_hours([], {T0: (1.5, 0.2)}, [T0])
    assert hour.estimated and hour.import_kwh == 1.5 and hour.export_kwh == 0.2
    assert book_hours([], {}, [T0]) == []


def test_register_decrease_falls_back_to_power() -> None:
    regs = [RegisterPoint(T0, 100.0, 0.0), RegisterPoint(T0 + HOUR, 3.0, 0.0)]
    (hour,) = book_hours(regs, {T0: (2.0, 0.0)}, [T0])
    assert hour.estimated and hour.import_kwh == 2.0


def test_integration_splits_at_hour_boundaries_and_bridges_no_power_cut() -> None:
    samples = [(T0 + HOUR - 5.0, 3600.0, 0.0), (T0 + HOUR + 5.0, 0.0, 0.0)]
    power = integrate_power_by_hour(samples)
    assert power[T0][0] == pytest.approx(5 / 1000) and power[T0 + HOUR][0] == pytest.approx(
        5 / 1000
    )
    # a 2 h gap (power cut) is not filled with the last power
    cut = integrate_power_by_hour([(T0, 1000.0, 0.0), (T0 + 2 * HOUR, 1000.0, 0.0)])
    assert cut[T0][0] == pytest.approx(1000 * 30 / 3.6e6)


def test_this_hour_so_far_and_projection() -> None:
    samples = [(T0 + t, 3600.0, 0.0) for t in range(0, 1800 + 1, 10)]
    so_far, projection, exported = this_hour(samples, T0 + 1800)
    assert so_far == pytest.approx(1.8)
    assert projection == pytest.approx(3.6)
    assert exported == 0


def test_capacity_tariff_uses_three_days_and_warns() -> None:
    day = 86400
    hours = [
        (T0 + 17 * HOUR, 6.0),
        (T0 + 18 * HOUR, 7.0),  # same day as 6.0: only the highest counts
        (T0 + day + 17 * HOUR, 4.0),
        (T0 + 2 * day + 17 * HOUR, 2.0),
        (T0 + 3 * day + 17 * HOUR, 1.0),
    ]
    result = capacity_tariff(hours)
    assert [p.kwh for p in result.peaks] == [7.0, 4.0, 2.0]
    assert result.average_kw == pytest.approx(13 / 3)
    assert result.step == CapacityStep(2, 5, DEFAULT_CAPACITY_STEPS[1].price_nok)
    assert result.headroom_kw == pytest.approx(5 - 13 / 3)
    assert result.next_step == DEFAULT_CAPACITY_STEPS[2]
    assert not result.warning
    warned = capacity_tariff(hours, projection=(T0 + 3 * day + 18 * HOUR, 9.0))
    assert warned.warning  # (7 + 9 + 4) / 3 = 6.7 kW → step 5-10


def test_custom_steps_and_top_step() -> None:
    steps = (CapacityStep(0, 10, 100), CapacityStep(10, None, 500))
    result = capacity_tariff([(T0, 12.0)], steps)
    assert result.step.to_kw is None and result.headroom_kw is None and result.next_step is None


def test_local_time_round_trip_and_autumn_fold() -> None:
    assert local_iso(parse_local("2026-07-01T12:00:00")) == "2026-07-01T12:00:00"
    first = parse_local("2026-10-25T02:30:00")
    later = first + HOUR
    assert parse_local("2026-10-25T02:30:00", not_before=later - 10) == pytest.approx(later)


@given(st.floats(min_value=-2e9, max_value=4.1e9, allow_nan=False))
def test_local_iso_is_the_zone_s_local_time(t: float) -> None:
    """local_iso formats through a cache per UTC hour; it must agree with zoneinfo everywhere."""
    expected = dt.datetime.fromtimestamp(t, LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S")
    assert local_iso(t) == expected


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (1743296399, "2025-03-30T01:59:59"),  # 2025-03-30 00:59:59 UTC: the last second of CET
        (1743296400, "2025-03-30T03:00:00"),  # the next second is CEST: 02:00-02:59 never happen
        (1761440399.9, "2025-10-26T02:59:59"),  # the first 02:59 (CEST)
        (1761440400, "2025-10-26T02:00:00"),  # then 02:00 again (CET)
    ],
)
def test_local_iso_across_daylight_saving(t: float, text: str) -> None:
    assert local_iso(t) == text
