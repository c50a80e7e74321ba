"""Household load profiles: reproducible, plausible, solar only by day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hanport.emulator.load import HouseholdLoad


def _hour(load: HouseholdLoad, at: datetime):
    return load.hour(at, 10.0, 360)


def test_same_seed_same_hour_same_watts_wherever_the_run_started():
    hour = datetime(2026, 1, 10, 17, tzinfo=UTC)
    first = HouseholdLoad(5)
    _hour(first, hour - timedelta(hours=5))  # a different history must not matter
    assert _hour(first, hour) == _hour(HouseholdLoad(5), hour)
    assert _hour(HouseholdLoad(6), hour) != _hour(HouseholdLoad(5), hour)


def test_voltages_stay_within_225_to_240_volts():
    load = HouseholdLoad(2, prosumer=True)
    for hours in range(0, 24 * 7, 5):
        voltages = _hour(load, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hours)).voltage_v
        assert all(225.0 <= v <= 240.0 for phase in voltages for v in phase)


def test_winter_uses_more_than_summer():
    load = HouseholdLoad(3)

    def day_kwh(start: datetime) -> float:
        total = 0.0
        for h in range(24):
            hour = _hour(load, start + timedelta(hours=h))
            total += sum(sum(phase) for phase in hour.active_w) * 10 / 3600 / 1000
        return total

    assert day_kwh(datetime(2026, 1, 20, tzinfo=UTC)) > 1.5 * day_kwh(
        datetime(2026, 7, 20, tzinfo=UTC)
    )


def test_prosumer_exports_around_midday_and_produces_nothing_at_night():
    with_sun = HouseholdLoad(8, prosumer=True)
    without = HouseholdLoad(8, prosumer=False)
    noon = datetime(2026, 6, 21, 11, tzinfo=UTC)
    midnight = datetime(2026, 6, 21, 23, tzinfo=UTC)
    assert _hour(with_sun, midnight) == _hour(without, midnight)
    produced = sum(map(sum, _hour(without, noon).active_w)) - sum(
        map(sum, _hour(with_sun, noon).active_w)
    )
    assert produced > 360 * 1000  # more than 1 kW on average over the hour


def test_no_production_with_the_sun_below_the_horizon():
    """Sunset and sunrise fall inside an hour: no slot after sunset or before sunrise produces."""
    with_sun = HouseholdLoad(8, prosumer=True)
    without = HouseholdLoad(8, prosumer=False)
    slot = timedelta(seconds=10)
    checked = 0
    for hour in range(24):
        start = datetime(2026, 4, 10, hour, tzinfo=UTC)
        sunny, dark = _hour(with_sun, start), _hour(without, start)
        for k in range(360):
            if with_sun._solar_w(start + k * slot, 1.0) == 0:
                checked += 1
                assert [p[k] for p in sunny.active_w] == [p[k] for p in dark.active_w], (hour, k)
    assert 360 * 8 < checked < 360 * 16  # an April night in Oslo, with its twilight hours
