"""The chosen grid tariff's capacity steps drive the hour's allowance (/api/budget, the load-shed
signal) and the month's capacity charge (/api/tariff); an explicit ``[tariff] steps`` still wins.

The expected figures are worked out here from Elvia's printed prices (NOK/month with VAT, from
the source the tariff file names), not from the reader's step table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reader_captures import emulate_capture

from hanport.reader.api import ReaderContext
from hanport.reader.energy import DEFAULT_CAPACITY_STEPS, CapacityStep
from hanport.reader.importer import import_capture
from hanport.reader.service import ReaderService
from hanport.reader.settings import load_settings
from hanport.reader.storage import queries
from hanport.reader.web import create_app

OSLO = dt.timezone(dt.timedelta(hours=1))  # February: CET all month
#: Elvia from 2023-02-01, "Priser ny nettleiemodell", kr/month with VAT, steps 1–6
ELVIA_PRINTED = [(0, 2, 110), (2, 5, 170), (5, 10, 270), (10, 15, 370), (15, 20, 470),
                 (20, 25, 570)]  # fmt: skip


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "reader.toml"
    path.write_text(text)
    return str(path)


def test_the_company_steps_replace_the_default(tmp_path: Path) -> None:
    settings = load_settings({}, config=_config(tmp_path, '[tariff]\ncompany = "elvia-2023"\n'),
                             environ={})  # fmt: skip
    assert [(s.from_kw, s.to_kw, s.price_nok) for s in settings.tariff_steps] == ELVIA_PRINTED
    # the environment variable does the same
    from_env = load_settings({}, environ={"HANPORT_TARIFF_COMPANY": "elvia-2023",
                                          "XDG_CONFIG_HOME": str(tmp_path / "none")})  # fmt: skip
    assert from_env.tariff_steps == settings.tariff_steps


def test_vat_follows_the_zone_or_the_setting(tmp_path: Path) -> None:
    text = '[tariff]\ncompany = "elvia-2023"\n[prices]\nzone = "NO4"\nentsoe_token = "t"\n'
    north = load_settings({}, config=_config(tmp_path, text), environ={})
    assert [s.price_nok for s in north.tariff_steps] == [88, 136, 216, 296, 376, 456]
    own = load_settings(
        {},
        config=_config(tmp_path, '[tariff]\ncompany = "elvia-2023"\nvat_percent = 15\n'),
        environ={},
    )
    assert own.tariff_steps[1].price_nok == pytest.approx(136 * 1.15)


def test_explicit_steps_win_over_the_company(tmp_path: Path) -> None:
    text = '[tariff]\ncompany = "elvia-2023"\nsteps = [[0, 4, 100], [4, "inf", 900]]\n'
    settings = load_settings({}, config=_config(tmp_path, text), environ={})
    assert settings.tariff_steps == (CapacityStep(0, 4, 100), CapacityStep(4, None, 900))


def test_a_swedish_tariff_keeps_the_default_steps(tmp_path: Path) -> None:
    settings = load_settings({}, config=_config(tmp_path, '[tariff]\ncompany = "seom-2025"\n'),
                             environ={})  # fmt: skip
    assert settings.tariff_steps == DEFAULT_CAPACITY_STEPS


def _elvia_step(hours: dict[int, float]) -> tuple[int, float]:
    """Independently: (step index, average) of the three highest daily maxima."""
    best: dict[dt.date, float] = {}
    for start, kwh in hours.items():
        day = dt.datetime.fromtimestamp(start, OSLO).date()
        best[day] = max(best.get(day, 0.0), kwh)
    top = sorted(best.values(), reverse=True)[:3]
    average = sum(top) / len(top) if top else 0.0
    index = next((i for i, (a, b, _) in enumerate(ELVIA_PRINTED) if a <= average < b), None)
    assert index is not None, f"the test month's average {average} is above Elvia's steps"
    return index, average


@pytest.mark.slow
def test_budget_tariff_and_load_shed_use_the_company_steps(tmp_path: Path) -> None:
    capture = emulate_capture(tmp_path / "feb.bin", "2026-02-01T00:00", "6d", seed=5)
    db = tmp_path / "feb.sqlite3"
    config = _config(tmp_path, f'db = "{db}"\n[tariff]\ncompany = "elvia-2023"\n')
    settings = load_settings({}, config=config, environ={})
    service = ReaderService(settings)  # the running reader's lookups (load-shed, MQTT)
    import_capture(service.engine, capture)
    with service.engine.connect() as conn:
        meter_id = queries.meter_ids(conn)[0]
        hours = dict(queries.import_hours(conn, meter_id, 0, 2**40))
    ctx = ReaderContext(engine=service.engine, steps=settings.tariff_steps)
    client = TestClient(create_app(ctx, dashboard=False))

    (budget,) = client.get("/api/budget").json()
    running = int(dt.datetime.fromisoformat(budget["hour_start"]).replace(tzinfo=OSLO).timestamp())
    before = {s: k for s, k in hours.items() if s < running}
    index, _ = _elvia_step(before)
    low, high, price = ELVIA_PRINTED[index]
    assert budget["step"] == {"from_kw": low, "to_kw": high, "price_nok": price}
    # the limit is exactly where Elvia's step would rise
    assert _elvia_step({**before, running: budget["limit_kwh"] - 1e-6})[0] == index
    assert _elvia_step({**before, running: budget["limit_kwh"] + 1e-6})[0] > index
    # the load-shed signal and HA's "this hour's limit" ask the same question
    assert service._hour_limit(meter_id, budget["hour_start"]) == budget["limit_kwh"]

    month = budget["hour_start"][:7]
    (tariff,) = client.get(f"/api/tariff?month={month}").json()
    index, average = _elvia_step(hours)
    assert tariff["average_kw"] == pytest.approx(average, abs=1e-3)
    assert tariff["step"]["price_nok"] == ELVIA_PRINTED[index][2]  # the month's capacity charge
    service.engine.dispose()
