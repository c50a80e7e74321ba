"""The hour's allowance by a Swedish tariff's own rule (SEOM: the three highest hours on
different weekdays within 07-19, no holidays, priced per kW and month), against an independent
calculation over an emulated January with weekends and two holidays (1 and 6 January)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from reader_captures import emulate_capture
from sqlalchemy import Engine

from hanport.reader.api import ReaderContext
from hanport.reader.cost import CostPlan
from hanport.reader.energy import CapacityStep
from hanport.reader.importer import import_capture
from hanport.reader.loadshed import LoadShedSignal
from hanport.reader.rule_budget import QuarterCache, allowance_by_rule, running_quarter
from hanport.reader.service import ReaderService
from hanport.reader.settings import ReaderSettings
from hanport.reader.storage import queries
from hanport.reader.storage.database import open_db
from hanport.reader.tariffs import registry
from hanport.reader.tariffs.allowance import rule_allowance
from hanport.reader.tariffs.public import norway
from hanport.reader.web import create_app

pytestmark = pytest.mark.slow

CET = dt.timezone(dt.timedelta(hours=1))  # January: CET all month
SEOM = registry.load("seom-2025")
JANUARY_SEK_PER_KW = 108.0  # SEOM's file: November-March
#: Sweden's public holidays in January 2026 (nyårsdagen, trettondedag jul): written out here,
#: not asked of the library the reader uses
HOLIDAYS = {dt.date(2026, 1, 1), dt.date(2026, 1, 6)}


def why_not_counted(start: int) -> str | None:
    local = dt.datetime.fromtimestamp(start, CET)
    if not 7 <= local.hour < 19:
        return "outside_window"
    if local.weekday() >= 5:
        return "weekend"
    if local.date() in HOLIDAYS:
        return "holiday"
    return None


def charge(periods: dict[int, float], per_hour: float = 1.0) -> float:
    """Independently: SEK for the month as it stands, the three highest counted hours (kW) on
    different days averaged over three (the month's figure will take three of them)."""
    best: dict[dt.date, float] = {}
    for start, kwh in periods.items():
        if why_not_counted(start) is None:
            day = dt.datetime.fromtimestamp(start, CET).date()
            best[day] = max(best.get(day, 0.0), kwh * per_hour)
    return JANUARY_SEK_PER_KW * sum(sorted(best.values(), reverse=True)[:3]) / 3


def counted_days(periods: dict[int, float], other_than: dt.date) -> int:
    return len(
        {
            dt.datetime.fromtimestamp(s, CET).date()
            for s in periods
            if why_not_counted(s) is None and dt.datetime.fromtimestamp(s, CET).date() != other_than
        }
    )


def _january(workdir: Path, duration: str) -> Engine:
    capture = emulate_capture(workdir / f"jan-{duration}.bin", "2026-01-01T00:00", duration,
                              seed=11)  # fmt: skip
    engine = open_db(str(workdir / f"jan-{duration}.sqlite3"))
    import_capture(engine, capture)
    return engine


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[int, float]]]:
    # ends on Friday 30 January 10:20, a counted hour
    engine = _january(tmp_path_factory.mktemp("seom"), "29d10h20m")
    with engine.connect() as conn:
        hours = dict(queries.import_hours(conn, queries.meter_ids(conn)[0], 0, 2**40))
    assert len(hours) > 600
    yield engine, hours
    engine.dispose()


def test_the_limit_is_where_the_swedish_charge_would_rise(
    month: tuple[Engine, dict[int, float]],
) -> None:
    _, hours = month
    seen: dict[str | None, int] = {}
    raised = 0
    for running in sorted(hours)[1:]:
        before = {s: k for s, k in hours.items() if s < running}
        allowance = rule_allowance(before.items(), running, SEOM)
        reason = why_not_counted(running)
        base = charge(before)
        if reason is not None:
            # does not count: no limit, and no use of it raises the charge
            assert (allowance.counts, allowance.limit_kwh, allowance.reason) == (
                False, None, reason,
            ), running  # fmt: skip
            assert charge({**before, running: 1000.0}) == pytest.approx(base)
            seen[reason] = seen.get(reason, 0) + 1
            continue
        assert allowance.counts and allowance.step is None, running
        limit = allowance.limit_kwh
        assert limit is not None
        # exactly where the charge begins to rise, by a third of a kW's price per kWh
        assert charge({**before, running: limit - 1e-6}) == pytest.approx(base, abs=1e-9)
        assert charge({**before, running: limit + 0.01}) == pytest.approx(
            base + 0.01 * JANUARY_SEK_PER_KW / 3, abs=1e-9
        ), running
        assert allowance.over_cost_per_kwh == JANUARY_SEK_PER_KW / 3
        day = dt.datetime.fromtimestamp(running, CET).date()
        fewer = counted_days(before, day) < 3
        assert (allowance.reason == "fewer_than_count") is fewer, running
        seen["fewer" if fewer else None] = seen.get("fewer" if fewer else None, 0) + 1
        raised += hours[running] > limit
    # every case came up: weekends, both holidays' hours, nights, the month's first days
    assert seen["weekend"] >= 8 * 12 and seen["holiday"] == 2 * 12
    assert seen["outside_window"] > 200 and seen["fewer"] >= 12 and seen[None] > 150
    assert raised  # the household did raise the charge somewhere


def _client(engine: Engine, **context: Any) -> TestClient:
    return TestClient(create_app(ReaderContext(engine=engine, **context), dashboard=False))


def test_api_budget_follows_the_chosen_swedish_tariff(
    month: tuple[Engine, dict[int, float]],
) -> None:
    engine, hours = month
    (budget,) = _client(engine, grid_tariff=SEOM).get("/api/budget").json()
    assert budget["hour_start"] == "2026-01-30T10:00:00"
    running = int(dt.datetime(2026, 1, 30, 10, tzinfo=CET).timestamp())
    before = {s: k for s, k in hours.items() if s < running}
    limit = budget["limit_kwh"]
    assert charge({**before, running: limit - 1e-6}) == pytest.approx(charge(before), abs=1e-9)
    assert charge({**before, running: limit + 1e-3}) > charge(before)
    assert budget["left_kwh"] == pytest.approx(limit - budget["used_kwh"])
    assert budget["used_kwh"] > 0  # 20 minutes of the hour
    assert {k: budget[k] for k in ("counts", "reason", "step", "period", "estimated",
                                   "over_cost_per_kwh", "currency")} == {
        "counts": True, "reason": None, "step": None, "period": "hour", "estimated": False,
        "over_cost_per_kwh": 36.0, "currency": "SEK",
    }  # fmt: skip
    assert budget["rule"] == {"rule": "top_days", "resolution": "hour", "count": 3,
                              "window_hours": [7, 19], "weekdays_only": True,
                              "skip_holidays": True}  # fmt: skip
    # a stored database has no live source: stale, no projection, no minutes, no extra cost
    assert budget["stale"] is True and budget["minutes_left"] is None
    assert budget["would_raise_step"] is False and budget["over_cost"] is None
    # the same tariff chosen with a bidding zone (the cost plan) gives the same answer
    plan = CostPlan(SEOM, "SE3", norway())
    assert _client(engine, cost_plan=plan).get("/api/budget").json() == [budget]
    # no tariff chosen: the Norwegian rule and steps, as before
    norwegian = _client(engine).get("/api/budget").json()[0]
    assert norwegian["rule"]["window_hours"] == [0, 24] and norwegian["currency"] == "NOK"
    assert norwegian["limit_kwh"] != limit and norwegian["step"] is not None


@pytest.mark.parametrize(
    ("duration", "reason"),
    [("5d10h20m", "holiday"), ("9d12h20m", "weekend"), ("13d20h20m", "outside_window")],
)
def test_an_hour_that_does_not_count_has_no_limit(
    tmp_path: Path, duration: str, reason: str
) -> None:
    # ends on Tuesday 6 January (trettondedag jul) 10:20, Saturday 10 January 12:20 and
    # Wednesday 14 January 20:20
    engine = _january(tmp_path, duration)
    try:
        (budget,) = _client(engine, grid_tariff=SEOM).get("/api/budget").json()
    finally:
        engine.dispose()
    assert (budget["counts"], budget["reason"], budget["limit_kwh"], budget["left_kwh"]) == (
        False, reason, None, None,
    )  # fmt: skip
    assert budget["would_raise_step"] is False and budget["minutes_left"] is None


def quarters_of(samples: list[tuple[float, float | None]]) -> dict[int, float]:
    """Independently: kWh per quarter-hour, each push's power held until the next, 30 s at most."""
    result: dict[int, float] = {}
    for (t0, watts), (t1, _) in itertools.pairwise(samples):
        t, end = t0, min(t1, t0 + 30)
        while t < end:
            q = int(t // 900) * 900
            piece = min(end, q + 900) - t
            result[q] = result.get(q, 0.0) + (watts or 0.0) * piece / 3.6e6
            t += piece
    return result


def test_a_quarter_hour_rule_limits_the_running_quarter_from_estimates(
    month: tuple[Engine, dict[int, float]],
) -> None:
    engine, _ = month
    quarterly = dataclasses.replace(
        SEOM, rule=dataclasses.replace(SEOM.rule, resolution="quarter_hour")
    )
    with engine.connect() as conn:
        (meter_id,) = queries.meter_ids(conn)
        samples = queries.import_power(conn, meter_id, 0, 2**40)
        at = samples[-1][0]  # Friday 30 January 10:20
        allowance = allowance_by_rule(conn, meter_id, at, quarterly, (), QuarterCache())
        used, projection = running_quarter(conn, meter_id, at)
    running = int(at // 900) * 900
    assert allowance.period_s == 900 and allowance.period_start == running
    quarters = {q: k for q, k in quarters_of(samples).items() if q < running}
    limit = allowance.limit_kwh
    assert limit is not None and allowance.counts
    base = charge(quarters, per_hour=4)
    assert charge({**quarters, running: limit - 1e-6}, per_hour=4) == pytest.approx(base)
    # a quarter's kWh is a quarter of its kW: each kWh over the limit costs four times more
    assert charge({**quarters, running: limit + 1e-3}, per_hour=4) == pytest.approx(
        base + 1e-3 * 4 * JANUARY_SEK_PER_KW / 3
    )
    assert allowance.over_cost_per_kwh == pytest.approx(4 * JANUARY_SEK_PER_KW / 3)
    # the running quarter so far: 10:15 to 10:20 of the stored pushes
    inside = [s for s in samples if s[0] >= running]
    assert used == pytest.approx(sum(quarters_of(inside).values()), rel=0.02)
    assert projection >= used
    (budget,) = _client(engine, grid_tariff=quarterly).get("/api/budget").json()
    assert (budget["period"], budget["estimated"], budget["limit_kwh"]) == (
        "quarter_hour", True, pytest.approx(limit),
    )  # fmt: skip
    assert (budget["period_start"], budget["period_end"]) == (
        "2026-01-30T10:15:00", "2026-01-30T10:30:00",
    )  # fmt: skip


def test_a_stepped_rule_in_a_window_limits_where_its_step_would_rise(
    month: tuple[Engine, dict[int, float]],
) -> None:
    _, hours = month
    steps = (CapacityStep(0, 3, 100), CapacityStep(3, 5, 200), CapacityStep(5, None, 400))
    stepped = dataclasses.replace(SEOM, per_kw_by_month=(), steps=steps, periods=())

    def step_of(periods: dict[int, float]) -> int:
        best: dict[dt.date, float] = {}
        for start, kwh in periods.items():
            if why_not_counted(start) is None:
                day = dt.datetime.fromtimestamp(start, CET).date()
                best[day] = max(best.get(day, 0.0), kwh)
        top = sorted(best.values(), reverse=True)[:3]
        average = sum(top) / len(top) if top else 0.0
        return next(i for i, s in enumerate(steps) if s.to_kw is None or average < s.to_kw)

    checked = 0
    for running in sorted(hours)[1:]:
        if why_not_counted(running) is not None:
            continue
        before = {s: k for s, k in hours.items() if s < running}
        allowance = rule_allowance(before.items(), running, stepped, steps)
        assert allowance.step == steps[step_of(before)]
        if allowance.limit_kwh is None:
            assert step_of(before) == 2 and allowance.reason == "top_step"
            continue
        assert step_of({**before, running: allowance.limit_kwh - 1e-6}) == step_of(before)
        assert step_of({**before, running: allowance.limit_kwh + 1e-6}) > step_of(before)
        checked += 1
    assert checked > 100


_JSON_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": bool,
               "null": type(None), "object": dict}  # fmt: skip


def test_every_budget_key_is_in_the_openapi(month: tuple[Engine, dict[int, float]]) -> None:
    engine, _ = month
    contexts: list[dict[str, Any]] = [{"grid_tariff": SEOM}, {}]
    for context in contexts:
        app = create_app(ReaderContext(engine=engine, **context), dashboard=False)
        content = app.openapi()["paths"]["/api/budget"]["get"]["responses"]["200"]["content"]
        schema = content["application/json"]["schema"]["items"]
        (budget,) = TestClient(app).get("/api/budget").json()
        assert set(schema["required"]) == set(budget) == set(schema["properties"])
        for key, value in budget.items():
            declared = schema["properties"][key]["type"]
            allowed = tuple(
                _JSON_TYPES[t] for t in ([declared] if isinstance(declared, str) else declared)
            )
            assert isinstance(value, allowed), (key, value)  # type: ignore[arg-type]


def test_the_load_shed_signal_follows_the_swedish_rule(
    month: tuple[Engine, dict[int, float]],
) -> None:
    engine, hours = month
    service = ReaderService(
        ReaderSettings(db=str(engine.url.database), tariff_company="seom-2025",
                       serve_http=False),
        log=lambda _: None,
    )  # fmt: skip
    try:
        meter_id = _meter(engine)
        # Tuesday 13 January 10:20: counted, the limit is where the charge would rise
        limit = service._hour_limit(meter_id, "2026-01-13T10:20:00")
        assert isinstance(limit, float)
        running = int(dt.datetime(2026, 1, 13, 10, tzinfo=CET).timestamp())
        # the stored month runs on to the 30th: the lookup takes every stored hour but its own
        rest = {s: k for s, k in hours.items() if s != running}
        assert charge({**rest, running: limit - 1e-6}) == pytest.approx(charge(rest))
        assert charge({**rest, running: limit + 1e-3}) > charge(rest)
        signal = LoadShedSignal(service._hour_limit)

        def now(at: str, projection: float) -> dict[str, Any]:
            return {"meter_id": meter_id, "at": at, "this_hour_kwh": 0.5,
                    "this_hour_projection_kwh": projection}  # fmt: skip

        fields, changed = signal.evaluate(now("2026-01-13T10:20:00", limit * 0.9))
        assert (fields["reduce_load"], changed) == (False, False)
        assert fields["hour_limit_kwh"] == limit
        assert signal.evaluate(now("2026-01-13T10:21:00", limit + 0.01)) == (
            {"hour_limit_kwh": limit, "hour_left_kwh": round(limit - 0.5, 3),
             "reduce_load": True},
            True,
        )  # fmt: skip
        # 19:00 is outside SEOM's window: no limit, the signal goes off whatever the load
        assert signal.evaluate(now("2026-01-13T19:00:10", 50.0)) == (
            {"hour_limit_kwh": None, "hour_left_kwh": None, "reduce_load": False},
            True,
        )  # fmt: skip
        # a Saturday and trettondedag jul do not count either
        for at in ("2026-01-10T12:20:00", "2026-01-06T10:20:00"):
            assert service._hour_limit(meter_id, at) is None
            assert signal.evaluate(now(at, 50.0))[0]["reduce_load"] is False
        # Norway's rule would have shed load at 19:00 with this projection
        norwegian = ReaderService(
            ReaderSettings(db=str(engine.url.database), serve_http=False), log=lambda _: None
        )
        try:
            shed = LoadShedSignal(norwegian._hour_limit)
            assert shed.evaluate(now("2026-01-13T19:00:10", 50.0))[0]["reduce_load"] is True
        finally:
            norwegian.engine.dispose()
    finally:
        service.engine.dispose()


def _meter(engine: Engine) -> str:
    with engine.connect() as conn:
        (meter_id,) = queries.meter_ids(conn)
    return meter_id
