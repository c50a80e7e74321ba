"""The load-shed signal's hysteresis and the webhook: a local HTTP server receives each change,
and a failed POST is tried again."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hanport.reader.loadshed import LoadShedSignal, LoadShedWebhook, PeriodLimit

METER = "6970631855040468"


class Receiver:
    """A webhook's far end: records every POSTed body; answers 500 to the first ``fail``."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail = fail


@contextmanager
def receiving(fail: int = 0) -> Iterator[tuple[Receiver, str]]:
    """A local HTTP server recording POSTed JSON: (what it got, its URL)."""
    got = Receiver(fail=fail)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.attempts += 1
            if got.attempts <= got.fail:
                self.send_response(500)
            else:
                got.bodies.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got, f"http://127.0.0.1:{server.server_address[1]}/shed"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with receiving(fail=1) as started:
        yield started


def _now(projection: float | None, used: float = 1.0) -> dict[str, Any]:
    return {"meter_id": METER, "at": "2026-12-04T18:20:00", "this_hour_kwh": used,
            "this_hour_projection_kwh": projection}  # fmt: skip


def test_signal_has_hysteresis_and_looks_the_limit_up_once_an_hour() -> None:
    lookups: list[str] = []

    def limit(_meter: str, at: str) -> float:
        lookups.append(at)
        return 10.0

    signal = LoadShedSignal(limit)
    assert signal.evaluate(_now(9.9)) == (
        {"hour_limit_kwh": 10.0, "hour_left_kwh": 9.0, "reduce_load": False},
        False,
    )
    assert signal.evaluate(_now(10.1))[0]["reduce_load"] is True
    assert signal.evaluate(_now(9.6)) == (
        {"hour_limit_kwh": 10.0, "hour_left_kwh": 9.0, "reduce_load": True},
        False,
    )  # still above 95 % of the limit: stays on
    assert signal.evaluate(_now(9.4)) == (
        {"hour_limit_kwh": 10.0, "hour_left_kwh": 9.0, "reduce_load": False},
        True,
    )
    assert signal.evaluate(_now(None))[0]["reduce_load"] is False  # stale: no projection
    assert len(lookups) == 1


async def test_webhook_posts_each_change_and_retries(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    webhook = LoadShedWebhook(url, LoadShedSignal(lambda _m, _at: 10.0), backoff_s=0.0)
    task = asyncio.create_task(webhook.run())

    async def until(condition: Any) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, (got.bodies, webhook.error)
            await asyncio.sleep(0.01)

    try:
        webhook.update(_now(5.0))  # below the limit from the start: nothing to say
        webhook.update(_now(12.0))
        await until(lambda: len(got.bodies) == 1)
        assert got.attempts == 2  # the first POST got a 500 and was tried again
        assert got.bodies[0] == {
            "meter_id": METER, "reduce_load": True, "at": "2026-12-04T18:20:00",
            "hour_limit_kwh": 10.0, "hour_left_kwh": 9.0, "this_hour_projection_kwh": 12.0,
        }  # fmt: skip
        webhook.update(_now(3.0))
        await until(lambda: len(got.bodies) == 2)
        assert got.bodies[1]["reduce_load"] is False and webhook.sent == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_quarter_hour_limit_projects_the_running_quarter() -> None:
    """A quarter-hour rule's lookup answers a PeriodLimit: the signal projects the quarter from
    the hour's energy (the push before a boundary holds its power up to it) and looks the limit
    up again at each new quarter-hour."""
    lookups: list[str] = []

    def limit(_meter: str, at: str) -> PeriodLimit:
        lookups.append(at)
        return PeriodLimit(1.0, 900)

    signal = LoadShedSignal(limit)

    def push(at: str, hour_kwh: float, watts: float) -> dict[str, Any]:
        return {"meter_id": METER, "at": at, "this_hour_kwh": hour_kwh,
                "active_power_import_w": watts, "this_hour_projection_kwh": 9.9}  # fmt: skip

    # 18:10:00, 10 minutes into the first quarter at 3.6 kW: 0.6 kWh, 0.9 kWh by 18:15
    fields, _ = signal.evaluate(push("2026-12-04T18:10:00", 0.6, 3600))
    assert fields == {"hour_limit_kwh": 1.0, "hour_left_kwh": 0.4, "reduce_load": False}
    # 7.2 kW from 18:14:50: 0.61 kWh so far, 0.61 + 0.02 by 18:15 → still below 1.0
    assert signal.evaluate(push("2026-12-04T18:14:50", 0.61, 7200))[0]["reduce_load"] is False
    # 18:15:10, the second quarter: the 18:14:50 push held 10 s to the boundary (0.63 kWh),
    # 0.02 kWh since; 14:50 more at 7.2 kW projects 0.02 + 1.78 > 1.0
    fields, changed = signal.evaluate(push("2026-12-04T18:15:10", 0.65, 7200))
    assert changed and fields["reduce_load"] is True
    assert fields["hour_left_kwh"] == round(1.0 - 0.02, 3)
    assert lookups == ["2026-12-04T18:10:00", "2026-12-04T18:15:10"]
    # without a live projection (stale) there is nothing to shed
    stale = {**push("2026-12-04T18:16:00", 0.7, 7200), "this_hour_projection_kwh": None}
    assert signal.evaluate(stale)[0]["reduce_load"] is False
