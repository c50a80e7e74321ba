"""The hour's allowance (GET /api/budget) against an independent calculation over an emulated
month: the limit is exactly where the month's capacity step would rise."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from reader_captures import emulate_capture

from hanport.reader.api import ReaderContext
from hanport.reader.energy import CapacityStep, hour_allowance
from hanport.reader.importer import import_capture
from hanport.reader.storage import queries
from hanport.reader.storage.database import open_db
from hanport.reader.web import create_app

pytestmark = pytest.mark.slow

OSLO = dt.timezone(dt.timedelta(hours=1))  # February: CET all month
# The test's own step table, narrow enough that an emulated household crosses steps.
STEPS = [(0.0, 3.0), (3.0, 5.0), (5.0, 10.0), (10.0, 14.0), (14.0, 16.0), (16.0, float("inf"))]
READER_STEPS = tuple(
    CapacityStep(a, None if b == float("inf") else b, 100.0 * i) for i, (a, b) in enumerate(STEPS)
)


def step_of(hours: dict[int, float]) -> int:
    """Independently: the average of the three highest daily maxima on different days."""
    best: dict[dt.date, float] = {}
    for start, kwh in hours.items():
        day = dt.datetime.fromtimestamp(start, OSLO).date()
        best[day] = max(best.get(day, 0.0), kwh)
    top = sorted(best.values(), reverse=True)[:3]
    average = sum(top) / len(top) if top else 0.0
    return next(i for i, (a, b) in enumerate(STEPS) if a <= average < b)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReaderContext, dict[int, float]]:
    workdir = tmp_path_factory.mktemp("budget")
    capture = emulate_capture(workdir / "feb.bin", "2026-02-01T00:00", "28d", seed=11)
    engine = open_db(str(workdir / "feb.sqlite3"))
    import_capture(engine, capture)
    with engine.connect() as conn:
        hours = dict(queries.import_hours(conn, queries.meter_ids(conn)[0], 0, 2**40))
    assert len(hours) > 600
    return ReaderContext(engine=engine, steps=READER_STEPS), hours


def test_the_limit_is_where_the_step_would_rise(
    month: tuple[ReaderContext, dict[int, float]],
) -> None:
    _, hours = month
    starts = sorted(hours)
    checked = raised_somewhere = 0
    for running in starts[1:]:  # every hour of the month after the first
        before = {s: k for s, k in hours.items() if s < running}
        allowance = hour_allowance(before.items(), running, READER_STEPS)
        step_now = step_of(before)
        assert allowance.step == READER_STEPS[step_now]
        if allowance.limit_kwh is None:
            assert step_now == len(STEPS) - 1  # the top step: nothing raises it
            continue
        limit = allowance.limit_kwh
        assert step_of({**before, running: limit - 1e-6}) == step_now, running
        assert step_of({**before, running: limit + 1e-6}) > step_now, running
        checked += 1
        raised_somewhere += hours[running] > limit
    assert checked > 500
    assert raised_somewhere  # the household did cross a limit somewhere in the month


def test_api_budget_for_the_latest_hour(month: tuple[ReaderContext, dict[int, float]]) -> None:
    ctx, hours = month
    client = TestClient(create_app(ctx, dashboard=False))
    (budget,) = client.get("/api/budget").json()
    assert set(budget) == {"meter_id", "hour_start", "hour_end", "used_kwh", "limit_kwh",
                           "left_kwh", "minutes_left", "step", "would_raise_step",
                           "stale", "period", "period_start", "period_end", "counts",
                           "reason", "estimated", "over_cost_per_kwh", "over_cost",
                           "currency", "rule"}  # fmt: skip
    # the Norwegian rule: every hour counts, the period is the hour, priced by steps in NOK
    assert (budget["counts"], budget["period"], budget["estimated"], budget["currency"]) == (
        True, "hour", False, "NOK",
    )  # fmt: skip
    assert (budget["period_start"], budget["period_end"]) == (
        budget["hour_start"], budget["hour_end"],
    )  # fmt: skip
    assert budget["over_cost_per_kwh"] is None and budget["over_cost"] is None
    running = int(dt.datetime.fromisoformat(budget["hour_start"]).replace(tzinfo=OSLO).timestamp())
    before = {s: k for s, k in hours.items() if s < running}
    step_now = step_of(before)
    if budget["limit_kwh"] is not None:
        assert step_of({**before, running: budget["limit_kwh"] - 1e-6}) == step_now
        assert step_of({**before, running: budget["limit_kwh"] + 1e-6}) > step_now
        assert budget["left_kwh"] == pytest.approx(budget["limit_kwh"] - budget["used_kwh"])
    # a stored database has no live source: stale, so no projection and no minutes
    assert budget["stale"] is True and budget["minutes_left"] is None
    assert budget["would_raise_step"] is False
