"""Main-fuse headroom per phase: shown against the rating, warned of only when a phase stays
above the share for the configured time, never from a stale reading; in /api/now."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
import pytest
from fastapi.testclient import TestClient

from hanport.reader.fuse import FuseConfig, FuseWatch
from hanport.reader.live import LiveState
from hanport.reader.model import Push
from hanport.reader.mqtt.publisher import MqttPublisher
from hanport.reader.settings import SettingsError, load_settings
from hanport.reader.storage.database import open_db
from hanport.reader.web import ReaderContext, create_app

METER = "6970631400000001"
T0 = 1_780_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _push(at: float, l1: float, l2: float = 10.0, l3: float = 5.0) -> Push:
    values = {
        "meter_id": METER,
        "active_power_import_w": 230.0 * (l1 + l2 + l3),
        "current_l1_a": l1,
        "current_l2_a": l2,
        "current_l3_a": l3,
    }
    return Push(METER, at, at, "list2", "Aidon", values)


def _live(clock: Clock) -> LiveState:
    return LiveState(clock=clock, fuse=FuseWatch(FuseConfig(63, 0.9, 60)))


def _feed(live: LiveState, clock: Clock, currents: list[float], start: float = T0) -> float:
    """One push every 2 s with these L1 currents; the clock follows the pushes."""
    at = start
    for current in currents:
        clock.now = at + 0.5
        live.update(_push(at, current))
        at += 2
    return at - 2


def test_phases_against_the_rating() -> None:
    clock = Clock(T0)
    live = _live(clock)
    _feed(live, clock, [31.5])
    (now,) = live.now()
    fuse = now["fuse"]
    assert fuse["amps"] == 63 and fuse["warning"] is False
    l1, l2, l3 = fuse["phases"]
    assert (l1["phase"], l1["current_a"], l1["load_pct"], l1["headroom_a"]) == (
        "L1",
        31.5,
        50.0,
        31.5,
    )
    assert l2["headroom_a"] == 53.0 and l3["load_pct"] == pytest.approx(7.9)


def test_a_spike_does_not_warn_a_sustained_load_does() -> None:
    clock = Clock(T0)
    live = _live(clock)
    # a 10 s start-up spike at 62 A, then back to 20 A: no warning at any time
    last = _feed(live, clock, [62.0] * 5 + [20.0] * 40)
    assert live.now()[0]["fuse"]["warning"] is False
    # 58 A (> 0.9 × 63 = 56.7) held: no warning before 60 s, warning at 60 s
    last = _feed(live, clock, [58.0] * 30, start=last + 2)  # 58 s above
    assert live.now()[0]["fuse"]["warning"] is False
    assert live.now()[0]["fuse"]["phases"][0]["above_s"] == 58.0
    last = _feed(live, clock, [58.0], start=last + 2)
    (now,) = live.now()
    assert now["fuse"]["warning"] is True and now["fuse"]["phases"][0]["warning"] is True
    assert now["fuse"]["phases"][1]["warning"] is False
    # one push below the share ends it
    _feed(live, clock, [40.0], start=last + 2)
    assert live.now()[0]["fuse"]["warning"] is False


def test_a_stale_reading_warns_of_nothing() -> None:
    clock = Clock(T0)
    live = _live(clock)
    last = _feed(live, clock, [60.0] * 40)
    assert live.now()[0]["fuse"]["warning"] is True
    clock.now = last + 600  # the port went quiet ten minutes ago
    (now,) = live.now()
    assert now["stale"] is True
    assert now["fuse"]["warning"] is False
    assert now["fuse"]["phases"][0]["current_a"] == 60.0  # still shown, greyed by the page


def test_without_a_rating_now_has_no_fuse_object() -> None:
    clock = Clock(T0)
    live = LiveState(clock=clock)
    _feed(live, clock, [60.0])
    assert "fuse" not in live.now()[0]


def test_api_now_carries_the_fuse(tmp_path: Path) -> None:
    clock = Clock(T0)
    live = _live(clock)
    _feed(live, clock, [59.0] * 40)
    engine = open_db(str(tmp_path / "fuse.sqlite3"))
    client = TestClient(create_app(ReaderContext(engine=engine, live=live, clock=clock)))
    (now,) = client.get("/api/now").json()
    assert now["fuse"]["warning"] is True
    assert [p["phase"] for p in now["fuse"]["phases"]] == ["L1", "L2", "L3"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[fuse]\namps = 0\n", "fuse.amps"),
        ("[fuse]\namps = 63\nwarn_share = 1.5\n", "fuse_warn_share"),
        ("[fuse]\namps = 63\nwarn_after_s = -1\n", "fuse_warn_after_s"),
        ('[fuse]\namps = "lots"\n', "fuse_amps"),
    ],
)
def test_bad_fuse_settings_are_clear_errors(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "reader.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        load_settings(config=str(path), environ={})


def test_fuse_settings_load(tmp_path: Path) -> None:
    path = tmp_path / "reader.toml"
    path.write_text("[fuse]\namps = 63\nwarn_share = 0.8\nwarn_after_s = 30\n", encoding="utf-8")
    s = load_settings(config=str(path), environ={})
    assert (s.fuse_amps, s.fuse_warn_share, s.fuse_warn_after_s) == (63.0, 0.8, 30.0)


async def test_home_assistant_gets_headroom_per_phase_and_the_warning(
    mosquitto: tuple[str, int],
) -> None:
    host, port = mosquitto
    clock = Clock(T0)
    live = _live(clock)
    publisher = MqttPublisher(host, port, client_id="fuse-pub", base_topic="fuse", clock=clock)
    live.add_listener(publisher.update)
    _feed(live, clock, [60.0] * 40)  # 78 s above 90 % of 63 A
    state_topic = f"fuse/{METER}/state"
    config_topic = f"homeassistant/device/hanport_{METER}/config"
    seen: dict[str, bytes] = {}
    task = asyncio.create_task(publisher.run())
    try:
        async with aiomqtt.Client(host, port, identifier="fuse-watcher") as client:
            await client.subscribe("#")
            async with asyncio.timeout(60):
                async for message in client.messages:
                    seen[str(message.topic)] = bytes(message.payload)  # type: ignore[arg-type]
                    if state_topic in seen and config_topic in seen:
                        break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    state = json.loads(seen[state_topic])
    assert state["fuse_warning"] is True
    assert (state["fuse_headroom_l1_a"], state["fuse_headroom_l2_a"]) == (3.0, 53.0)
    components = json.loads(seen[config_topic])["cmps"]
    warning = components[f"hanport_{METER}_fuse_warning"]
    assert warning["p"] == "binary_sensor" and warning["device_class"] == "problem"
    headroom = components[f"hanport_{METER}_fuse_headroom_l1_a"]
    assert headroom["unit_of_measurement"] == "A" and headroom["device_class"] == "current"
