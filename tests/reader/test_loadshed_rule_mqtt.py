"""The load-shed signal under a Swedish tariff (SEOM), end to end: a reader with the month so far
stored and a live emulated Kaifa on a counted weekday hour publishes the rule's limit to MQTT
and turns `reduce_load` on within one push of the emulator's extra load crossing it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from reader_captures import emulate_capture
from test_budget_rule import CET, charge
from test_mqtt import _collect, _emulated_kaifa

from hanport.reader.importer import import_capture
from hanport.reader.service import ReaderService
from hanport.reader.settings import ReaderSettings
from hanport.reader.storage import queries
from hanport.reader.storage.database import open_db
from services.processes import stop_process

pytestmark = pytest.mark.slow

#: Wednesday 14 January 2026, 10:05 by the meter's clock: a counted hour under SEOM's rule
LIVE_START = "2026-01-14T10:05"


async def test_reduce_load_follows_the_swedish_limit_within_one_push(
    mosquitto: tuple[str, int], tmp_path: Path
) -> None:
    host, port = mosquitto
    db = tmp_path / "seom.sqlite3"
    # the month so far, 1 January 00:00 to 14 January 10:00, from the same emulated meter
    capture = emulate_capture(tmp_path / "jan.bin", "2026-01-01T00:00", "13d10h", seed=1,
                              meter="kaifa")  # fmt: skip
    engine = open_db(str(db))
    import_capture(engine, capture)
    with engine.connect() as conn:
        (stored_meter,) = queries.meter_ids(conn)
        hours = dict(queries.import_hours(conn, stored_meter, 0, 2**40))
    engine.dispose()
    running = int(dt.datetime(2026, 1, 14, 10, tzinfo=CET).timestamp())
    before = {s: k for s, k in hours.items() if s < running}
    emulator, tcp, control = _emulated_kaifa(tmp_path, LIVE_START)
    settings = ReaderSettings(
        db=str(db), tcp=[tcp], serve_http=False, mqtt_host=host, mqtt_port=port,
        mqtt_base_topic="seom", mqtt_client_id="seom", mqtt_discovery=False,
        tariff_company="seom-2025",
    )  # fmt: skip
    service = ReaderService(settings, log=lambda _: None)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    extra = 100_000.0
    states: list[dict[str, Any]] = []

    def watch(seen: dict[str, bytes]) -> bool:
        states.extend(json.loads(v) for k, v in seen.items() if k.endswith("/state"))
        seen.clear()
        return bool(states) and states[-1]["active_power_import_w"] > extra

    try:
        async with httpx.AsyncClient(base_url=control, timeout=10) as http:
            await _collect(host, port, "seom/+/state", bool, timeout=20)
            quiet = json.loads(
                next(iter((await _collect(host, port, "seom/+/state", bool)).values()))
            )
            assert quiet["meter_id"] == stored_meter and quiet["at"].startswith("2026-01-14T10:")
            limit = quiet["hour_limit_kwh"]
            # the published limit is where SEOM's charge for January would begin to rise
            assert charge({**before, running: limit - 1e-6}) == pytest.approx(charge(before))
            assert charge({**before, running: limit + 1e-3}) > charge(before)
            assert quiet["this_hour_projection_kwh"] < limit and quiet["reduce_load"] is False
            # HA's capacity sensors follow the rule too: the month's figure by SEOM's rule
            # (the three highest counted hours on different days), its warning reduce_load's
            assert quiet["capacity_by_tariff_rule"] is True
            assert quiet["capacity_average_kw"] == pytest.approx(charge(before) / 108, abs=1e-6)
            assert quiet["capacity_warning"] is False
            await http.put(f"/api/meters/{stored_meter}/load", json={"extra_import_w": extra})
            await _collect(host, port, "seom/+/state", watch, timeout=20)
            loaded = states[-1]  # the first push carrying the load
            assert loaded["reduce_load"] is True and loaded["capacity_warning"] is True
            assert loaded["this_hour_projection_kwh"] > loaded["hour_limit_kwh"] == limit
            await http.put(f"/api/meters/{stored_meter}/load", json={"extra_import_w": 0})
            released = await _collect(
                host, port, "seom/+/state",
                lambda s: any(json.loads(v)["active_power_import_w"] < extra for v in s.values()),
                timeout=20,
            )  # fmt: skip
            assert json.loads(next(iter(released.values())))["reduce_load"] is False
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        stop_process(emulator)
