"""Tariff files load and validate; each capacity rule against an independent calculation."""

from __future__ import annotations

import datetime as dt
import random
import tomllib
from importlib import resources

import pytest

from hanport.reader.energy import LOCAL_TZ, capacity_tariff
from hanport.reader.tariffs import registry
from hanport.reader.tariffs.capacity import capacity, quarter_hours_from_power
from hanport.reader.tariffs.public import norway, parse_public


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=LOCAL_TZ).timestamp())


def test_every_file_loads_with_source_and_date() -> None:
    keys = registry.available()
    assert len([k for k in keys if registry.load(k).country == "NO"]) >= 5
    assert any(registry.load(k).country == "SE" for k in keys)
    assert "seom-2026" not in keys  # its numbers matched no SEOM price list that could be cited
    for key in keys:
        tariff = registry.load(key)
        assert tariff.source.startswith("https://"), key
        assert tariff.steps or tariff.per_kw_by_month, key


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(registry.TariffError, match="bkk-2024"):
        registry.load("no-such-company")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"capacity": {"rule": "top_days", "steps": [[1, 2, 3]]}}, "start at 0"),
        ({"capacity": {"rule": "top_days", "steps": [[0, 2, 3], [3, -1, 4]]}}, "contiguous"),
        ({"capacity": {"rule": "median", "steps": [[0, -1, 3]]}}, "capacity.rule"),
        ({"country": "DE"}, "country"),
        ({"source": 5}, "'source'"),
        ({"energy": {"day": 0.1}}, "'night'"),
    ],
)
def test_bad_files_say_what_is_wrong(change: dict[str, object], message: str) -> None:
    text = resources.files("hanport.reader.tariffs").joinpath("data", "bkk-2024.toml")
    raw = tomllib.loads(text.read_text("utf-8")) | change
    with pytest.raises(registry.TariffError, match=message):
        registry.parse("broken", raw)


def test_a_charge_above_the_known_steps_is_an_error_not_a_guess() -> None:
    bkk = registry.load("bkk-2024")
    assert bkk.capacity_charge(7.5, 1) == 320
    with pytest.raises(registry.TariffError, match="no step for 30"):
        bkk.capacity_charge(30, 1)


def test_norwegian_rule_matches_the_readers_own_calculation() -> None:
    rng = random.Random(7)
    hours = [(at(2026, 1, 1, 0) + i * 3600, rng.uniform(0.2, 9.0)) for i in range(31 * 24)]
    mine = capacity(hours, registry.load("tensio-ts-2023"), estimated=False)
    theirs = capacity_tariff(hours)
    assert mine.kw == pytest.approx(theirs.average_kw)
    assert {p[0] for p in mine.peaks} == {p.start for p in theirs.peaks}


def test_swedish_window_counts_weekday_hours_7_to_19_outside_holidays() -> None:
    seom = registry.load("seom-2025")
    hours = [
        (at(2026, 1, 1, 12), 20.0),  # New Year's Day: holiday
        (at(2026, 1, 3, 12), 19.0),  # Saturday
        (at(2026, 1, 5, 6), 18.0),  # Monday before 07
        (at(2026, 1, 5, 19), 17.0),  # Monday 19-20: outside [7, 19)
        (at(2026, 1, 5, 7), 6.0),
        (at(2026, 1, 5, 8), 5.0),  # same date: SEOM counts "de tre högsta ... på olika datum"
        (at(2026, 1, 7, 18), 4.0),
        (at(2026, 1, 8, 12), 1.0),
    ]
    result = capacity(hours, seom, estimated=False)
    assert result.kw == pytest.approx((6 + 4 + 1) / 3)
    # the page: 108 SEK/kW a month excl. VAT November-March, 54 April-October
    assert seom.capacity_charge(3.0, 1) == pytest.approx(108 * 3.0)
    assert seom.capacity_charge(3.0, 7) == pytest.approx(54 * 3.0)
    assert seom.fixed_per_month == pytest.approx(1320 / 12)
    assert seom.energy is None  # its 4 öre are known, Sweden's energy tax is not modelled


def test_quarter_hour_maxima_from_pushes_are_estimates() -> None:
    raw = tomllib.loads(
        resources.files("hanport.reader.tariffs").joinpath("data", "bkk-2024.toml").read_text()
    )
    raw["capacity"]["resolution"] = "quarter_hour"
    tariff = registry.parse("bkk-quarter", raw)
    start = at(2026, 2, 2, 17)
    # 8 kW for the first quarter-hour, 2 kW for the rest of the hour, a push every 10 s
    samples = [(start + s, 8000.0 if s < 900 else 2000.0) for s in range(0, 3601, 10)]
    quarters = quarter_hours_from_power(samples)
    assert quarters[start] == pytest.approx(2.0)  # 8 kW × ¼ h
    result = capacity(quarters.items(), tariff, estimated=True)
    assert result.kw == pytest.approx(8.0) and result.estimated
    hourly = capacity([(start, sum(quarters.values()))], registry.load("bkk-2024"), estimated=False)
    assert hourly.kw == pytest.approx(3.5)  # the hour's average hides the quarter's peak


def test_public_rules_by_date() -> None:
    rules = norway()
    assert rules.support_on(dt.date(2023, 8, 31)).basis == "month"  # type: ignore[union-attr]
    assert rules.support_on(dt.date(2023, 9, 1)).basis == "hour"  # type: ignore[union-attr]
    assert rules.support_on(dt.date(2024, 6, 1)).threshold == 0.73  # type: ignore[union-attr]
    assert rules.support_on(dt.date(2023, 5, 31)) is None
    assert rules.norgespris_on(dt.date(2025, 9, 30)) is None
    assert rules.norgespris_on(dt.date(2026, 3, 1)).nok_per_kwh == 0.40  # type: ignore[union-attr]
    assert rules.vat("NO4") == 0.0 and rules.vat("NO1") == 0.25


def test_overlapping_public_rules_are_refused() -> None:
    row = {"consumption_tax": 0.1, "enova": 0.01}
    raw = {
        "levies": [
            {"from": dt.date(2024, 1, 1), "to": dt.date(2024, 6, 1), **row},
            {"from": dt.date(2024, 5, 1), "to": dt.date(2025, 1, 1), **row},
        ]
    }
    with pytest.raises(registry.TariffError, match="overlaps"):
        parse_public(raw)


def test_settings_pick_a_tariff_by_name_and_refuse_unknown_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hanport.reader.settings import SettingsError, load_settings

    good = tmp_path / "good.toml"
    good.write_text('[tariff]\ncompany = "bkk-2024"\nnorgespris = true\n', encoding="utf-8")
    settings = load_settings(config=str(good), environ={})
    assert settings.tariff_company == "bkk-2024" and settings.tariff_norgespris
    bad = tmp_path / "bad.toml"
    bad.write_text('[tariff]\ncompany = "elvia-2099"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown tariff 'elvia-2099'; known: bkk-2024"):
        load_settings(config=str(bad), environ={})


#: the current tariffs (2026) from the Fri nettleie data set, each beside the grid company's page
CURRENT_NO = (
    "bkk-2026",
    "elvia-2026",
    "glitre-2026",
    "lede-2026",
    "lnett-2026",
    "norgesnett-2026",
    "tensio-ts-2026",
)


def test_current_norwegian_tariffs_name_the_data_set_and_the_company_page() -> None:
    for key in CURRENT_NO:
        tariff = registry.load(key)
        assert tariff.country == "NO" and tariff.valid_from.year == 2026, key
        assert tariff.source.startswith("https://github.com/kraftsystemet/fri-nettleie/blob/")
        assert len(tariff.source.split("/")[6]) == 40, key  # pinned to a commit
        assert tariff.company_source.startswith("https://"), key
        assert tariff.energy is not None and tariff.steps[-1].to_kw is None, key
        assert tariff.to_json()["company_source"] == tariff.company_source


# (tariff, local time, the grid company's own charge there in øre/kWh excl. VAT, as the source
# lists it). 2026-03-03 is a Tuesday, 2026-03-07 and 2026-09-05 Saturdays, 2026-05-14 Ascension
# Day; the hours after a mid-year change price from its new list.
KNOWN_HOURS = [
    ("bkk-2026", (2026, 3, 3, 12), 28.77),  # "Høylast virkedag" 6-21
    ("bkk-2026", (2026, 3, 3, 22), 10.5),
    ("bkk-2026", (2026, 3, 7, 12), 10.5),  # weekend
    ("bkk-2026", (2026, 5, 14, 12), 10.5),  # holiday
    ("elvia-2026", (2026, 9, 1, 6), 28.99),  # "Virkedag" 6-21
    ("elvia-2026", (2026, 9, 1, 5), 16.99),
    ("tensio-ts-2026", (2026, 9, 5, 21), 22.102),  # "Dag" 6-21 every day (a Saturday)
    ("tensio-ts-2026", (2026, 9, 5, 22), 10.902),
    ("glitre-2026", (2026, 12, 25, 12), 25.6),  # "Høylast" 6-21 every day, holidays too
    ("norgesnett-2026", (2026, 12, 5, 3), 13.6),
    ("lnett-2026", (2026, 12, 4, 8), 25.6),
    ("lnett-2026", (2026, 12, 5, 8), 13.6),
    ("lede-2026", (2026, 12, 4, 8), 11.41),  # one price at all hours
]


@pytest.mark.parametrize(("key", "when", "own_ore"), KNOWN_HOURS)
def test_a_known_hour_prices_as_the_source_says(
    key: str, when: tuple[int, int, int, int], own_ore: float
) -> None:
    from hanport.reader.cost import CostPlan, grid_energy_price

    plan = CostPlan(registry.load(key), "NO1", norway())
    # 2026's levies excl. VAT: consumption tax 7,13 øre, Enova 1,00 øre; VAT 25 %
    expected = (own_ore + 7.13 + 1.0) / 100 * 1.25
    assert grid_energy_price(at(*when), plan) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("key", "kw", "nok_per_year"),
    [
        ("bkk-2026", 7.5, 3984),
        ("elvia-2026", 2.0, 2400),  # a step's lower bound belongs to it
        ("elvia-2026", 1.99, 1440),
        ("tensio-ts-2026", 600, 206140.8),
        ("lede-2026", 4.9, 2580),
        ("norgesnett-2026", 120, 58680),
    ],
)
def test_capacity_steps_are_the_sources_yearly_prices_per_month(
    key: str, kw: float, nok_per_year: float
) -> None:
    assert registry.load(key).capacity_charge(kw, 1) == pytest.approx(nok_per_year / 12)


def test_public_rules_2025_and_2026_as_their_sources_say() -> None:
    rules = norway()
    tax = {
        dt.date(2025, 3, 31): 0.0979,
        dt.date(2025, 4, 1): 0.1693,
        dt.date(2025, 10, 1): 0.1253,  # the cut of 4.4 øre
        dt.date(2026, 1, 1): 0.0713,
        dt.date(2026, 12, 31): 0.0713,
    }
    for day, rate in tax.items():
        levies = rules.levies_on(day)
        assert levies is not None and levies.consumption_tax == rate and levies.enova == 0.01, day
    support = rules.support_on(dt.date(2026, 12, 5))
    assert support is not None and (support.threshold, support.share) == (0.77, 0.90)
    assert support.basis == "hour" and support.cap_kwh == 5000
    norgespris = rules.norgespris_on(dt.date(2026, 12, 31))
    assert norgespris is not None and norgespris.cap_kwh_holiday_home == 1000
    assert rules.norgespris_on(dt.date(2027, 1, 1)) is None  # decided only to the end of 2026


def test_every_public_rule_names_its_source() -> None:
    text = resources.files("hanport.reader.tariffs").joinpath("public_data", "no.toml")
    raw = tomllib.loads(text.read_text("utf-8"))
    for name in ("levies", "support", "norgespris"):
        for row in raw[name]:
            assert row["source"].startswith("https://"), (name, row["from"])


# (tariff, a weekday hour in March 2026, one in August 2026, the own charge in øre/kWh excl. VAT
# that the data set lists for each: the list before the mid-year change, then the one after)
DATED_HOURS = [
    ("elvia-2026", (2026, 3, 3, 12), 20.99, (2026, 8, 4, 12), 28.99),
    ("elvia-2026", (2026, 3, 3, 23), 12.99, (2026, 8, 4, 23), 16.99),
    ("tensio-ts-2026", (2026, 3, 3, 12), 20.702, (2026, 8, 4, 12), 22.102),
    ("glitre-2026", (2026, 3, 3, 12), 24.6, (2026, 8, 4, 12), 25.6),
    ("norgesnett-2026", (2026, 3, 3, 3), 13.29, (2026, 8, 4, 3), 13.6),
    ("lede-2026", (2026, 3, 3, 12), 24.38, (2026, 8, 4, 12), 11.41),
]


@pytest.mark.parametrize(("key", "march", "march_ore", "august", "august_ore"), DATED_HOURS)
def test_an_hour_in_march_and_one_in_august_price_from_their_own_list(
    key: str,
    march: tuple[int, int, int, int],
    march_ore: float,
    august: tuple[int, int, int, int],
    august_ore: float,
) -> None:
    from hanport.reader.cost import CostPlan, grid_energy_price

    plan = CostPlan(registry.load(key), "NO1", norway())
    for when, own in ((march, march_ore), (august, august_ore)):
        expected = (own + 7.13 + 1.0) / 100 * 1.25  # 2026's levies, VAT 25 %
        assert grid_energy_price(at(*when), plan) == pytest.approx(expected, abs=1e-6), when


def test_the_change_takes_effect_at_local_midnight_of_its_date() -> None:
    from hanport.reader.cost import CostPlan, grid_energy_price

    plan = CostPlan(registry.load("lede-2026"), "NO2", norway())
    last_old = grid_energy_price(at(2026, 4, 30, 23), plan)
    first_new = grid_energy_price(at(2026, 5, 1, 0), plan)
    assert last_old == pytest.approx((24.38 + 8.13) / 100 * 1.25)
    assert first_new == pytest.approx((11.41 + 8.13) / 100 * 1.25)


@pytest.mark.parametrize(
    ("key", "day", "kw", "nok_per_year"),
    [
        ("elvia-2026", dt.date(2026, 3, 1), 2.0, 1824),
        ("elvia-2026", dt.date(2026, 8, 1), 2.0, 2400),
        ("tensio-ts-2026", dt.date(2026, 3, 1), 600, 192652.8),
        ("glitre-2026", dt.date(2026, 3, 1), 12, 6960),
        ("norgesnett-2026", dt.date(2026, 3, 1), 120, 48641.66),
        ("lede-2026", dt.date(2026, 4, 1), 4.9, 2820),
        ("lede-2026", dt.date(2026, 5, 1), 4.9, 2580),
    ],
)
def test_capacity_steps_by_the_list_in_force_that_day(
    key: str, day: dt.date, kw: float, nok_per_year: float
) -> None:
    tariff = registry.load(key)
    assert tariff.capacity_charge(kw, day.month, day) == pytest.approx(nok_per_year / 12)
    assert tariff.on(day).to_json()["valid_from"] <= day.isoformat()


def test_every_period_names_its_source() -> None:
    for key in CURRENT_NO:
        for period in registry.load(key).periods:
            assert period.source.startswith("https://github.com/kraftsystemet/fri-nettleie/blob/")
            assert period.company_source.startswith("https://"), (key, period.valid_from)


def _two_periods() -> dict[str, object]:
    text = resources.files("hanport.reader.tariffs").joinpath("data", "elvia-2026.toml")
    return tomllib.loads(text.read_text("utf-8"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.reverse(), "out of order"),
        (lambda p: p[0].update(valid_to=dt.date(2026, 6, 1)), "gap between 2026-06-01"),
        (lambda p: p[0].update(valid_to=dt.date(2026, 8, 1)), "overlap between 2026-08-01"),
        (lambda p: p[1].update(valid_from=p[0]["valid_from"]), "out of order or overlapping"),
        (lambda p: p[1].pop("source"), "period 2: 'source' is missing"),
        (lambda p: p[1].update(source="a web page"), "period 2: 'source' must name"),
        (lambda p: p[1].update(valid_to=dt.date(2027, 1, 1)), "the last period runs on"),
    ],
)
def test_bad_periods_are_refused(change: object, message: str) -> None:
    raw = _two_periods()
    change(raw["period"])  # type: ignore[operator]
    with pytest.raises(registry.TariffError, match=message):
        registry.parse("broken", raw)


def test_the_allowance_uses_the_steps_of_the_hours_own_list(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hanport.reader.api import ReaderContext
    from hanport.reader.settings import load_settings

    config = tmp_path / "reader.toml"
    config.write_text('[tariff]\ncompany = "elvia-2026"\n[prices]\nzone = "NO1"\n', "utf-8")
    settings = load_settings({}, config=str(config), environ={"HANPORT_ENTSOE_TOKEN": "t"})
    ctx = ReaderContext(
        engine=None,  # type: ignore[arg-type]
        steps=settings.tariff_steps,
        step_periods=settings.tariff_step_periods,
    )
    assert ctx.steps_on(dt.date(2026, 3, 15))[0].price_nok == 125  # 1200 / 12 × 1.25
    assert ctx.steps_on(dt.date(2026, 8, 15))[0].price_nok == 150  # 1440 / 12 × 1.25
    assert settings.tariff_steps[0].price_nok == 150  # the latest list
