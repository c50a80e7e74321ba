"""The HTTP API of docs/CONTRACTS.md §4: shapes, CSV, errors, health, and the live SSE feed."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from reader_captures import emulate_capture
from reader_synthetic import METER_ID, pushes
from sqlalchemy import create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from hanport.reader.energy import LOCAL_TZ
from hanport.reader.live import LiveState
from hanport.reader.service import ReaderService
from hanport.reader.settings import ReaderSettings
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.web import ReaderContext, create_app

START = int(dt.datetime(2026, 2, 2, tzinfo=LOCAL_TZ).timestamp())
ENERGY_KEYS = {"meter_id", "start", "active_energy_import_kwh", "active_energy_export_kwh",
               "net_kwh", "estimated"}  # fmt: skip


class Clock:
    """The reader's clock in a test: set by hand, never slept on."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


#: the synthetic meter's last push before the fixture stops, in the middle of an hour
LAST_PUSH = START + 49.5 * 3600


@pytest.fixture
def clock() -> Clock:
    return Clock(LAST_PUSH + 5)  # five seconds after it arrived


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> TestClient:
    engine = open_db(str(tmp_path / "api.sqlite3"))
    writer = Writer(engine)
    live = LiveState(clock=clock)
    for push in pushes(START, 50):
        if push.at > LAST_PUSH:
            break  # stop in the middle of an hour
        writer.add(push)
        live.update(push)
    writer.flush(final=True)
    return TestClient(create_app(ReaderContext(engine=engine, live=live, clock=clock)))


def test_meters_now_and_energy_shapes(client: TestClient) -> None:
    (meter,) = client.get("/api/meters").json()
    assert set(meter) == {"meter_id", "manufacturer", "meter_type", "list_version",
                          "first_seen", "last_seen"}  # fmt: skip
    assert meter["meter_id"] == METER_ID and meter["first_seen"] == "2026-02-02T00:00:00"

    (now,) = client.get("/api/now").json()
    for key in ("active_power_import_w", "received_at", "this_hour_kwh",
                "this_hour_projection_kwh", "last_hour_kwh", "last_hour_export_kwh"):  # fmt: skip
        assert key in now, key
    assert now["this_hour_projection_kwh"] >= now["this_hour_kwh"] > 0
    assert now["stale"] is False and now["age_s"] == 5.0 and now["stale_after_s"] == 30.0
    assert client.get("/api/now", params={"meter_id": "nobody"}).json() == []

    hours = client.get("/api/hours", params={"from": "2026-02-02", "to": "2026-02-03"}).json()
    assert len(hours) == 24 and set(hours[0]) == ENERGY_KEYS | {"source"}  # reader | official
    assert {h["source"] for h in hours} == {"reader"}
    assert hours[0]["start"] == "2026-02-02T00:00:00"
    days = client.get("/api/days", params={"from": "2026-02-01", "to": "2026-03-01"}).json()
    assert [d["start"][:10] for d in days] == ["2026-02-02", "2026-02-03", "2026-02-04"]
    assert days[0]["active_energy_import_kwh"] == pytest.approx(
        sum(h["active_energy_import_kwh"] for h in hours), abs=1e-5
    )
    (month,) = client.get("/api/months", params={"from": "2026-01-01", "to": "2027-01-01"}).json()
    assert set(month) == ENERGY_KEYS and month["start"] == "2026-02-01T00:00:00"

    text = client.get("/api/hours", params={"from": "2026-02-02", "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 24 and set(rows[0]) == ENERGY_KEYS | {"source"}


def test_now_turns_stale_after_three_push_intervals(client: TestClient, clock: Clock) -> None:
    # the synthetic meter pushes every 10 s: stale once its latest reading is over 30 s old
    clock.t = LAST_PUSH + 5 + 30
    (now,) = client.get("/api/now").json()
    assert now["stale"] is True and now["age_s"] == 35.0
    # the power it saw may be long gone: no projection, and no tariff warning from it
    assert now["this_hour_projection_kwh"] is None and now["this_hour_kwh"] > 0
    (tariff,) = client.get("/api/tariff", params={"month": "2026-02"}).json()
    assert tariff["this_hour_projection_kwh"] is None and tariff["warning"] is False


def test_stored_now_is_stale_and_one_query_once_read(tmp_path: Path) -> None:
    """`hanport serve` has no live source: every reading is stale, whatever its age."""
    engine = open_db(str(tmp_path / "stored.sqlite3"))
    writer = Writer(engine)
    for push in pushes(START, 2):
        writer.add(push)
    writer.flush(final=True)
    last = max(p.received_at for p in pushes(START, 2))
    clock = Clock(last + 1)
    client = TestClient(create_app(ReaderContext(engine=engine, clock=clock)))
    (now,) = client.get("/api/now").json()
    assert now["stale"] is True and now["age_s"] == 1.0 and now["stale_after_s"] == 30.0
    assert now["this_hour_projection_kwh"] is None
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    clock.t += 60
    (again,) = client.get("/api/now").json()
    assert again["age_s"] == 61.0
    assert len(statements) == 1 and "FROM meters" in statements[0]  # nothing new: cached


def test_tariff_shape(client: TestClient) -> None:
    (tariff,) = client.get("/api/tariff", params={"month": "2026-02"}).json()
    assert set(tariff) == {"meter_id", "month", "peaks", "average_kw", "step", "next_step",
                           "headroom_kw", "this_hour_projection_kwh", "warning"}  # fmt: skip
    assert len(tariff["peaks"]) == 3 and set(tariff["peaks"][0]) == {"start", "kwh"}
    assert set(tariff["step"]) == {"from_kw", "to_kw", "price_nok"}
    assert tariff["step"]["from_kw"] <= tariff["average_kw"] < tariff["step"]["to_kw"]
    assert client.get("/api/tariff", params={"month": "2026-13"}).status_code == 422


def test_readings_fields_downsampling_and_errors(client: TestClient) -> None:
    params = {"meter_id": METER_ID, "from": "2026-02-02T10:00", "to": "2026-02-02T11:00"}
    rows = client.get("/api/readings", params={**params, "fields": "active_power_import_w"}).json()
    # 360 ten-second pushes and the hourly list
    assert len(rows) == 361 and set(rows[0]) == {"meter_id", "at", "active_power_import_w"}
    long = client.get(
        "/api/readings",
        params={"meter_id": METER_ID, "from": "2026-02-02", "to": "2026-02-05",
                "fields": "active_power_import_w,voltage_l1_v"},
    ).json()  # fmt: skip
    assert 1000 < len(long) <= 2000  # 18,000 pushes averaged into time buckets
    bad = client.get("/api/readings", params={**params, "fields": "nonsense"})
    assert bad.status_code == 422 and "unknown fields" in bad.text
    assert client.get("/api/hours", params={"from": "yesterday"}).status_code == 422
    backwards = {"from": "2026-02-03", "to": "2026-02-02"}
    assert client.get("/api/days", params=backwards).status_code == 422


def test_health_frames_openapi_dashboard(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert {"sources", "database", "mqtt", "issues"} <= set(health)
    assert health["database"]["ok"] is True
    frames = client.get("/api/frames/recent", params={"limit": 5}).json()
    assert isinstance(frames, list)
    spec = client.get("/api/openapi.json").json()
    for path in ("/api/meters", "/api/now", "/api/hours", "/api/days", "/api/months",
                 "/api/tariff", "/api/readings", "/api/health", "/api/live"):  # fmt: skip
        assert path in spec["paths"], path
    assert client.get("/").status_code == 200


@pytest.fixture(scope="module")
def hour_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return emulate_capture(tmp_path_factory.mktemp("c") / "2h.bin", "2026-01-09T08:00", "2h")


async def test_live_feed_and_service(hour_capture: Path, tmp_path: Path) -> None:
    settings = ReaderSettings(
        db=str(tmp_path / "live.sqlite3"), http_port=0, files=[str(hour_capture)], replay_speed=60
    )
    service = ReaderService(settings, log=lambda _: None)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        async with asyncio.timeout(20):
            while service.url is None:
                await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
            async with http.stream("GET", "/api/live") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                events = 0
                started = time.monotonic()
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("event:"):
                        # first, before any reading: readings will follow
                        assert line == "event: status"
                        assert await anext(lines) == 'data: {"live": true}'
                        break
                async for line in lines:
                    if line.startswith("event: reading"):
                        events += 1
                    if events >= 3:
                        break
                assert time.monotonic() - started < 10
            health = (await http.get("/api/health")).json()
            assert health["sources"][0]["kind"] == "file"
            assert health["sources"][0]["frames_ok"] > 0
            now = (await http.get("/api/now")).json()
            assert now and now[0]["meter_id"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def test_live_last_hour_estimated_until_booked() -> None:
    booked: dict[tuple[str, int], tuple[float, float]] = {}
    lookups: list[int] = []

    def lookup(meter_id: str, start: int) -> tuple[float, float] | None:
        lookups.append(start)
        return booked.get((meter_id, start))

    live = LiveState(last_hour_lookup=lookup)
    sample = list(pushes(START, 2))
    for push in sample:
        # the reader starts after the hourly list that opens the hour (START) has gone by
        if push.at < START + 3600 + 600 and push.register_hour != START:
            live.update(push)
    (now,) = live.now()
    # the previous hour is not booked: integrated power stands in for the registers' difference
    registers = [p.values["active_energy_import_kwh"] for p in sample if p.register_hour]
    assert now["last_hour_kwh"] == pytest.approx(registers[1] - registers[0], abs=0.02)
    assert len(lookups) == 1  # not one query per push
    booked[(METER_ID, START)] = (1.234, 0.0)
    import hanport.reader.live as live_module

    live_module.LOOKUP_RETRY_S = 0.0
    try:
        live.update(next(p for p in sample if p.at >= START + 3600 + 600))
        assert live.now()[0]["last_hour_kwh"] == 1.234
    finally:
        live_module.LOOKUP_RETRY_S = 10.0


def test_live_last_hour_is_exact_once_both_hourly_lists_are_seen() -> None:
    lookups: list[int] = []
    live = LiveState(last_hour_lookup=lambda _mid, start: lookups.append(start))
    sample = list(pushes(START, 2))
    for push in sample:
        if push.at < START + 3600 + 600:
            live.update(push)
    registers = [p.values["active_energy_import_kwh"] for p in sample if p.register_hour]
    # the lists at START and START + 1 h: their difference at once, without the database
    assert live.now()[0]["last_hour_kwh"] == round(registers[1] - registers[0], 6)
    assert lookups == []


def test_live_feed_without_a_live_source_says_so_and_ends(tmp_path: Path) -> None:
    """`hanport serve`: the feed says there is no live source instead of ending silently."""
    client = TestClient(create_app(open_db(str(tmp_path / "stored.sqlite3"))))
    response = client.get("/api/live")
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block.startswith("event:")]
    assert events == ['event: status\ndata: {"live": false}']


def _embedded(page: str) -> dict[str, Any]:
    """The answers a dashboard page carries for its first API calls."""
    block = page.split('<script id="initial" type="application/json">', 1)[1]
    answers: dict[str, Any] = json.loads(block.split("</script>", 1)[0])
    return answers


@pytest.mark.parametrize(
    "path",
    ["/", "/today", "/history?view=day&date=2026-02-03", "/history?view=month&date=2026-02",
     "/history?view=year&date=2026", "/health"],
)  # fmt: skip
def test_dashboard_pages_embed_the_apis_answers(client: TestClient, path: str) -> None:
    # The first paint needs no round trip, and shows exactly what the API would answer.
    embedded = _embedded(client.get(path).text)
    assert "/api/meters" in embedded or path == "/health"
    if path.startswith("/history?view=day"):
        assert any(key.startswith("/api/readings?") for key in embedded)
        assert any(key.startswith("/api/hours?") and value for key, value in embedded.items())
    for key, value in embedded.items():
        # The key is the call as dashboard scripts make it: path, parameters sorted, unencoded.
        url_path, _, query = key.partition("?")
        params = dict(part.split("=", 1) for part in query.split("&")) if query else {}
        answer = client.get(url_path, params=params).json()
        if url_path == "/api/health":
            # uptime moves on between the two answers
            assert value.pop("uptime_s") <= answer.pop("uptime_s")
        assert value == answer, key


def test_dashboard_embedded_answers_are_safe_in_html(client: TestClient) -> None:
    # A value with "</script>" (a meter id, an error text) must not end the block early.
    from hanport.reader.dashboard.routes import _embed_json

    text = _embed_json({"x": "</script><b>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><b>&"}


def test_health_says_the_database_fails_while_writes_fail(tmp_path: Path) -> None:
    path = tmp_path / "health.sqlite3"
    engine = open_db(str(path))
    # the writer's connection may read but not write, as on a full or read-only disk
    read_only = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    writer = Writer(read_only)
    writer.add(next(pushes(START, 1)))
    with pytest.raises(SQLAlchemyError):
        writer.flush()
    client = TestClient(create_app(ReaderContext(engine=engine, writer=writer)))
    health = client.get("/api/health").json()
    assert health["database"]["ok"] is False
    assert "readonly" in health["database"]["writer"]["last_error"]
    assert any(issue["code"] == "storage_failing" for issue in health["issues"])
    read_only.dispose()
