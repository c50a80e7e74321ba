"""MQTT: Home Assistant discovery checked against HA's sensor tables, publishing to a real
Mosquitto, raw frames in (binary and hex), last will, and storage with the broker down."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from reader_captures import emulate_capture
from sqlalchemy import func, select
from test_loadshed import Receiver, receiving

from hanport.protocol import HanEncoder
from hanport.reader.energy import CapacityStep
from hanport.reader.mqtt.discovery import discovery_message
from hanport.reader.mqtt.entities import ENTITIES
from hanport.reader.mqtt.publisher import MqttPublisher
from hanport.reader.pipeline import Hub
from hanport.reader.service import ReaderService
from hanport.reader.settings import ReaderSettings
from hanport.reader.sources import run_mqtt
from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import readings
from services.ports import free_port
from services.processes import die_with_parent, stop_process

# Home Assistant's documented tables (homeassistant/components/sensor/const.py,
# DEVICE_CLASS_UNITS and DEVICE_CLASS_STATE_CLASSES), for the device classes a meter can use.
HA_UNITS: dict[str, set[str | None]] = {
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
    "reactive_power": {"mvar", "var", "kvar"},
    "current": {"A", "mA"},
    "voltage": {"µV", "mV", "V", "kV", "MV"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal",
               "Mcal", "Gcal"},
    "reactive_energy": {"varh", "kvarh"},
    "power_factor": {"%", None},
    # any ISO 4217 code; a price per kWh (the Energy dashboard's price entity) as <code>/kWh
    "monetary": {"NOK", "SEK", "DKK", "EUR", "NOK/kWh"},
}  # fmt: skip
HA_STATE_CLASSES: dict[str, set[str | None]] = {
    "power": {"measurement", None},
    "reactive_power": {"measurement", None},
    "current": {"measurement", None},
    "voltage": {"measurement", None},
    "energy": {"total", "total_increasing", None},
    "reactive_energy": {"total", "total_increasing", None},
    "power_factor": {"measurement", None},
    "monetary": {"total", None},
}
HA_BINARY_SENSOR_CLASSES = {"problem", "power", "connectivity", "running", "safety"}
# keys the MQTT sensor / binary_sensor schema accepts (abbreviations of device discovery incl.)
HA_COMPONENT_KEYS = {
    "p", "name", "unique_id", "value_template", "device_class", "state_class",
    "unit_of_measurement", "enabled_by_default", "entity_category", "icon",
}  # fmt: skip
ID = re.compile(r"^[a-zA-Z0-9_-]+$")
OSLO = dt.timezone(dt.timedelta(hours=1))  # the emulator's start only needs minute 5

METER = {
    "meter_id": "5706567274389702",
    "manufacturer": "Kamstrup",
    "meter_type": "6841121BN243101040",
    "list_version": "Kamstrup_V0001",
}


def test_discovery_payload_follows_ha_schema() -> None:
    topic, payload = discovery_message(METER)
    prefix, component, object_id, config = topic.split("/")
    assert (prefix, component, config) == ("homeassistant", "device", "config")
    assert ID.match(object_id)
    assert payload["dev"]["ids"] and payload["dev"]["mf"] == "Kamstrup"
    assert payload["o"]["name"] == "hanport" and payload["o"]["sw"]
    assert payload["stat_t"] == "hanport/5706567274389702/state"
    # unavailable when either the reader (last will) or the meter (stale reading) is
    assert payload["avty_mode"] == "all"
    assert [a["t"] for a in payload["avty"]] == [
        "hanport/reader/hanport/availability",
        "hanport/5706567274389702/availability",
    ]
    unique_ids = set()
    for cid, cmp in payload["cmps"].items():
        assert ID.match(cid), cid
        assert set(cmp) <= HA_COMPONENT_KEYS, set(cmp) - HA_COMPONENT_KEYS
        assert cmp["unique_id"] not in unique_ids
        unique_ids.add(cmp["unique_id"])
        if cmp["p"] == "binary_sensor":
            assert cmp["device_class"] in HA_BINARY_SENSOR_CLASSES
            continue
        assert cmp["p"] == "sensor"
        device_class = cmp.get("device_class")
        if device_class is None:
            continue
        assert cmp.get("unit_of_measurement") in HA_UNITS[device_class], cid
        assert cmp.get("state_class") in HA_STATE_CLASSES[device_class], cid
    energy = payload["cmps"]["hanport_5706567274389702_active_energy_import_kwh"]
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
        "energy",
        "total_increasing",
        "kWh",
    )
    assert len(unique_ids) == len(ENTITIES)


def test_total_increasing_registers_never_go_down() -> None:
    publisher = MqttPublisher("127.0.0.1", 1)
    publisher.update({**METER, "active_energy_import_kwh": 100.0})
    publisher.update({**METER, "active_energy_import_kwh": 0.0})
    assert publisher._states[METER["meter_id"]]["active_energy_import_kwh"] == 100.0
    publisher.update({**METER, "active_energy_import_kwh": 99.5})
    assert publisher._states[METER["meter_id"]]["active_energy_import_kwh"] == 100.0
    publisher.update({**METER, "active_energy_import_kwh": 100.5})
    assert publisher._states[METER["meter_id"]]["active_energy_import_kwh"] == 100.5


async def _collect(host: str, port: int, topic: str, until: Any, timeout: float = 10) -> dict:
    seen: dict[str, bytes] = {}
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(topic)
        async with asyncio.timeout(timeout):
            async for message in client.messages:
                seen[str(message.topic)] = bytes(message.payload)  # type: ignore[arg-type]
                if until(seen):
                    return seen
    return seen


async def test_publisher_announces_state_and_availability(mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    publisher = MqttPublisher(host, port, client_id="test-pub", base_topic="t1")
    publisher.update({**METER, "active_power_import_w": 1234, "active_energy_import_kwh": 5.5})
    task = asyncio.create_task(publisher.run())
    try:
        seen = await _collect(
            host,
            port,
            "#",
            lambda s: (
                "t1/5706567274389702/state" in s
                and "homeassistant/device/hanport_5706567274389702/config" in s
                and s.get("t1/reader/test-pub/availability") == b"online"
            ),
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    state = json.loads(seen["t1/5706567274389702/state"])
    assert state["active_power_import_w"] == 1234
    config = json.loads(seen["homeassistant/device/hanport_5706567274389702/config"])
    assert config["stat_t"] == "t1/5706567274389702/state"
    # a clean stop says offline (retained)
    after = await _collect(host, port, "t1/reader/test-pub/availability", bool)
    assert after["t1/reader/test-pub/availability"] == b"offline"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_a_meter_gone_quiet_is_unavailable_in_home_assistant(
    mosquitto: tuple[str, int],
) -> None:
    host, port = mosquitto
    clock = Clock(1_000_000.0)
    publisher = MqttPublisher(host, port, client_id="test-stale", base_topic="t3", clock=clock)
    topic = "t3/5706567274389702/availability"
    fresh = {**METER, "active_power_import_w": 4087, "age_s": 0.0, "stale_after_s": 30.0}
    publisher.update({**fresh, "stale": False})
    task = asyncio.create_task(publisher.run())
    try:
        await _collect(host, port, topic, lambda s: s.get(topic) == b"online")
        # no reading for more than three push intervals: HA shows the meter unavailable
        clock.t += 29.5
        assert publisher.check_stale() == pytest.approx(0.5)
        clock.t += 1
        publisher.recheck()
        await _collect(host, port, topic, lambda s: s.get(topic) == b"offline")
        # the next reading brings it back
        publisher.update({**fresh, "stale": False})
        await _collect(host, port, topic, lambda s: s.get(topic) == b"online")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_raw_frames_over_mqtt_binary_and_hex(mosquitto: tuple[str, int]) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    host, port = mosquitto
    when = dt.datetime(2026, 1, 5, 10, 0, 0, tzinfo=ZoneInfo("Europe/Oslo"))
    encoders = {
        mid: HanEncoder("Kamstrup", phases=3, meter_id=mid, meter_type="6841121BN243101040")
        for mid in ("5706567200000001", "5706567200000002")
    }
    values = {"active_power_import_w": 500, "active_power_export_w": 0,
              "reactive_power_import_var": 0, "reactive_power_export_var": 0,
              "current_l1_a": 1.0, "current_l2_a": 1.0, "current_l3_a": 1.0,
              "voltage_l1_v": 230, "voltage_l2_v": 230, "voltage_l3_v": 230}  # fmt: skip
    hub = Hub()
    got: list[Any] = []
    hub.push_sinks.append(got.append)
    task = asyncio.create_task(run_mqtt(hub, host, port, "test-raw/#"))
    try:
        async with asyncio.timeout(10):
            while not hub.sources or hub.sources[0].state != "connected":
                await asyncio.sleep(0.05)
        async with aiomqtt.Client(host, port) as client:
            for i in range(3):
                for n, (mid, enc) in enumerate(encoders.items()):
                    frame = enc.encode("instantaneous", values, when + dt.timedelta(seconds=10 * i))
                    payload = frame.hex() if n else frame  # second meter sends hex text
                    await client.publish(f"test-raw/{mid}", payload, qos=1)
        async with asyncio.timeout(10):
            while len(got) < 6:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted({p.meter_id for p in got}) == sorted(encoders)
    assert hub.sources[0].crc_errors == 0


def _read_process(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "read", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def short_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return emulate_capture(tmp_path_factory.mktemp("c") / "6h.bin", "2026-01-05T00:00", "6h")


def test_storage_goes_on_with_the_broker_down(short_capture: Path, tmp_path: Path) -> None:
    dead_port = free_port()  # nothing listens here
    db = tmp_path / "reader.sqlite3"
    proc = _read_process(
        ["--file", str(short_capture), "--exit-when-done", "--db", str(db), "--no-http",
         "--mqtt-host", "127.0.0.1", "--mqtt-port", str(dead_port)]
    )  # fmt: skip
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out.decode()
    engine = open_db(str(db))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(readings)).scalar() == 6 * 360 + 6
    engine.dispose()


def test_last_will_marks_a_killed_reader_offline(
    mosquitto: tuple[str, int], short_capture: Path, tmp_path: Path
) -> None:
    host, port = mosquitto
    proc = _read_process(
        ["--file", str(short_capture), "--speed", "60", "--db", str(tmp_path / "r.sqlite3"),
         "--no-http", "--mqtt-host", host, "--mqtt-port", str(port), "--mqtt-client-id", "lwt"]
    )  # fmt: skip
    try:
        online = asyncio.run(
            _collect(host, port, "hanport/reader/lwt/availability", lambda s: any(
                v == b"online" for v in s.values()), timeout=30)
        )  # fmt: skip
        assert online
    finally:
        proc.kill()
        proc.communicate(timeout=10)  # waits, and closes the pipe
    deadline = time.monotonic() + 10
    last = b""
    while time.monotonic() < deadline:
        seen = asyncio.run(_collect(host, port, "hanport/reader/lwt/availability", bool, timeout=5))
        last = seen.get("hanport/reader/lwt/availability", b"")
        if last == b"offline":
            break
    assert last == b"offline"


def test_registers_run_within_the_hour_so_ha_books_the_right_hour() -> None:
    publisher = MqttPublisher("127.0.0.1", 1)
    mid = METER["meter_id"]

    def push(clock: str, pushed: str, register: float, this_hour: float) -> float:
        publisher.update(
            {
                **METER,
                "meter_clock": clock,
                "at": pushed,  # the meter's time of the latest push
                "active_energy_import_kwh": register,
                "this_hour_kwh": this_hour,
                "active_energy_export_kwh": 0.0,
                "this_hour_export_kwh": 0.0,
            }
        )
        return publisher._states[mid]["active_energy_import_kwh"]

    assert push("2026-01-05T10:00:05", "2026-01-05T10:00:10", 100.0, 0.01) == 100.01
    # during the hour the value grows with the integrated energy …
    assert push("2026-01-05T10:00:05", "2026-01-05T10:59:50", 100.0, 2.49) == 102.49
    # … so the hour's 2.5 kWh reaches HA before 11:00; until the next list it holds
    assert push("2026-01-05T10:00:05", "2026-01-05T11:00:00", 100.0, 0.0) == 102.49
    # the list of 11:00 corrects the small remainder
    assert push("2026-01-05T11:00:05", "2026-01-05T11:00:10", 102.5, 0.01) == 102.51


def _emulated_kaifa(
    workdir: Path, start: str | None = None
) -> tuple[subprocess.Popen[bytes], str, str]:
    """`hanport emulate` of a live Kaifa (a push every 2 s) from local ``start`` (default: 5
    past this hour): (process, meter's TCP host:port, control URL)."""
    if start is None:
        now = dt.datetime.now(OSLO).replace(minute=5, second=0, microsecond=0, tzinfo=None)
        start = now.isoformat(timespec="minutes")
    out = workdir / "emulator.out"
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [*die_with_parent(), sys.executable, "-m", "hanport.cli", "emulate", "--meter",
             "kaifa", "--seed", "1", "--start", start,
             "--speed", "1", "--port", "open", "--to", "tcp://127.0.0.1:0",
             "--control", "127.0.0.1:0"],
            stdout=stdout, cwd=workdir,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while len(lines := out.read_text().splitlines()) < 2:
        assert process.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    announced = [json.loads(line) for line in lines]
    meter = next(line for line in announced if "meter_id" in line)
    control = next(line["control"] for line in announced if "control" in line)
    return process, meter["stream"].removeprefix("tcp://"), control.rstrip("/")


@pytest.fixture
def load_shed_hook() -> Iterator[tuple[Receiver, str]]:
    with receiving() as started:
        yield started


async def test_load_shed_signal_follows_the_emulators_load_within_one_push(
    mosquitto: tuple[str, int], tmp_path: Path, load_shed_hook: tuple[Receiver, str]
) -> None:
    host, port = mosquitto
    emulator, tcp, control = _emulated_kaifa(tmp_path)
    # a fresh month: this hour may use the first step's 20 kWh; the household alone projects
    # far less, 100 kW extra for the rest of the hour far more
    got, url = load_shed_hook
    settings = ReaderSettings(
        db=str(tmp_path / "shed.sqlite3"), tcp=[tcp], serve_http=False, mqtt_host=host,
        mqtt_port=port, mqtt_base_topic="shed", mqtt_client_id="shed", mqtt_discovery=False,
        tariff_steps=(CapacityStep(0, 20, 100), CapacityStep(20, None, 900)),
        load_shed_webhook=url,
    )  # fmt: skip
    service = ReaderService(settings, log=lambda _: None)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    extra = 100_000.0
    states: list[dict[str, Any]] = []

    def watch(seen: dict[str, bytes]) -> bool:
        for topic, payload in seen.items():
            if topic.endswith("/state"):
                states.append(json.loads(payload))
        seen.clear()
        return bool(states) and states[-1]["active_power_import_w"] > extra

    try:
        async with httpx.AsyncClient(base_url=control, timeout=10) as http:
            await _collect(host, port, "shed/+/state", bool, timeout=20)
            quiet = await _collect(host, port, "shed/+/state", bool)
            assert json.loads(next(iter(quiet.values())))["reduce_load"] is False
            meter_id = json.loads(next(iter(quiet.values())))["meter_id"]
            await http.put(f"/api/meters/{meter_id}/load", json={"extra_import_w": extra})
            await _collect(host, port, "shed/+/state", watch, timeout=20)
            # the first push carrying the load is published with the signal on
            loaded = states[-1]
            assert loaded["reduce_load"] is True
            assert loaded["this_hour_projection_kwh"] > loaded["hour_limit_kwh"] == 20.0
            await http.put(f"/api/meters/{meter_id}/load", json={"extra_import_w": 0})
            released = await _collect(
                host, port, "shed/+/state",
                lambda s: any(json.loads(v)["active_power_import_w"] < extra for v in s.values()),
                timeout=20,
            )  # fmt: skip
            assert json.loads(next(iter(released.values())))["reduce_load"] is False
        # the webhook was told both changes, in order
        deadline = time.monotonic() + 10
        while len(got.bodies) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [body["reduce_load"] for body in got.bodies] == [True, False]
        assert got.bodies[0]["hour_limit_kwh"] == 20.0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        stop_process(emulator)
