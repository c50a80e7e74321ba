"""``hanport emulate`` as a process: captures, a pty read with pyserial, TCP, the control API."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import serial

from hanport.emulator.cli import _configs, _start_time, configure_emulate
from hanport.emulator.fleet import FleetError, MeterConfig
from hanport.emulator.load import OSLO
from hanport.emulator.meter import MeterState
from hanport.emulator.serve import CHECKPOINT_S
from hanport.emulator.state import PortStateStore
from hanport.protocol import HanStream, Keys


def read_for(port: serial.Serial, seconds: float) -> bytes:
    data = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data += port.read(4096)
    return bytes(data)


def test_capture_a_day_to_a_file_at_max_speed(emulator, tmp_path):
    capture = tmp_path / "day.bin"
    process = emulator(
        "--meter",
        "kamstrup",
        "--start",
        "2026-01-15T00:00",
        "--speed",
        "max",
        "--duration",
        "1d",
        "--to",
        f"file:{capture}",
    )
    assert process.process.wait(timeout=60) == 0
    meter = process.meters[0]
    assert meter["stream"] == f"file:{capture}" and meter["manufacturer"] == "Kamstrup"
    stream = HanStream()
    readings = stream.feed(capture.read_bytes())
    assert Counter(r.list_kind for r in readings) == {
        "instantaneous": 8640,
        "hourly-with-energy": 24,
    }
    assert stream.stats.crc_errors == stream.stats.undecodable == stream.stats.bytes_skipped == 0
    assert {r.meter_id for r in readings} == {meter["meter_id"]}


@pytest.mark.parametrize(
    ("start", "hourly_lists"),
    [("2026-03-29T01:00", 2), ("2026-10-25T01:00", 2)],
)
def test_duration_is_elapsed_time_across_daylight_saving(emulator, tmp_path, start, hourly_lists):
    capture = tmp_path / "dst.bin"
    process = emulator(
        "--start", start, "--speed", "max", "--duration", "2h", "--to", f"file:{capture}"
    )
    assert process.process.wait(timeout=60) == 0
    readings = HanStream().feed(capture.read_bytes())
    # Two hours of Kamstrup: 720 lists every 10 s and one hourly list each hour, whatever
    # the wall clock did in between.
    assert Counter(r.list_kind for r in readings) == {
        "instantaneous": 720,
        "hourly-with-energy": hourly_lists,
    }


def test_capture_to_standard_output_keeps_announcements_on_stderr(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hanport.cli",
            "emulate",
            "--meter",
            "aidon",
            "--phases",
            "1",
            "--start",
            "2026-07-01T12:00",
            "--speed",
            "max",
            "--duration",
            "1m",
            "--to",
            "-",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    readings = HanStream().feed(done.stdout)
    assert len(readings) == 24  # 60 s / 2.5 s
    assert b'"manufacturer": "Aidon"' in done.stderr


def test_bad_arguments_give_a_clear_error(tmp_path):
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hanport.cli", "emulate", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert "tcp://HOST:PORT" in run("--to", "tcp://nowhere", "--duration", "1s").stderr
    assert "1d" in run("--duration", "forever").stderr
    bad_fleet = tmp_path / "fleet.toml"
    bad_fleet.write_text("[[meter]]\nbrand = 'elster'\n")
    result = run("--fleet", str(bad_fleet))
    assert result.returncode == 2 and "unknown meter brand" in result.stderr
    bad_fleet.write_text("[[generate]]\ncount = 2\nseed = 'x'\n")
    result = run("--fleet", str(bad_fleet))
    assert result.returncode == 2 and "seed must be an integer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_pty_reader_port_close_open_and_restart(emulator, tmp_path):
    state = tmp_path / "state"
    args = (
        "--meter",
        "kamstrup",
        "--speed",
        "60",
        "--start",
        "2026-01-15T12:00",
        "--to",
        "pty",
        "--control",
        "127.0.0.1:0",
        "--state-dir",
        str(state),
    )
    process = emulator(*args, control=True)
    meter = process.meters[0]
    meter_id = str(meter["meter_id"])
    base = f"{process.control_url}/api/meters/{meter_id}"
    with serial.Serial(str(meter["stream"]), 2400, timeout=0.1) as port:
        stream = HanStream()
        readings = stream.feed(read_for(port, 1.5))
        assert len(readings) >= 5  # a push every 10 s simulated = 1/6 s real
        assert all(r.meter_id == meter_id for r in readings)
        assert stream.stats.crc_errors == 0

        closed = httpx.put(f"{base}/port", json={"port": "closed"})
        assert closed.status_code == 200 and closed.json()["port"] == "closed"
        time.sleep(0.4)  # one push interval is 1/6 s here; let the last frame finish
        port.reset_input_buffer()
        assert read_for(port, 1.0) == b""
        status = httpx.get(f"{base}/port").json()
        assert status["pushes_since_change"] == 0 and status["changed_at"]

        assert httpx.put(f"{base}/port", json={"port": "open"}).json()["port"] == "open"
        assert len(HanStream().feed(read_for(port, 1.0))) >= 3

        httpx.put(f"{base}/port", json={"port": "closed"})
    assert process.stop() in (0, 130)

    # The state survives a restart (the command line's --port open is only the default).
    again = emulator(*args, "--port", "open", control=True)
    assert again.meters[0]["port"] == "closed"
    with serial.Serial(str(again.meters[0]["stream"]), 2400, timeout=0.1) as port:
        assert read_for(port, 1.0) == b""
        base = f"{again.control_url}/api/meters/{meter_id}"
        httpx.put(f"{base}/port", json={"port": "open"})
        assert len(HanStream().feed(read_for(port, 1.0))) >= 3


@pytest.mark.slow
def test_real_time_bytes_are_paced_at_2400_baud(emulator):
    # Start one second before a push, so the test waits for one frame only.
    process = emulator(
        "--meter", "kamstrup", "--speed", "1", "--start", "2026-01-15T12:00:09", "--to", "pty"
    )
    with serial.Serial(str(process.meters[0]["stream"]), 2400, timeout=0.05) as port:
        arrivals: list[tuple[float, int]] = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            chunk = port.read(512)
            if chunk:
                arrivals.append((time.monotonic(), len(chunk)))
        size = sum(n for _, n in arrivals)
        assert size == 228  # one 3-phase Kamstrup list 1: length 0xE2 plus the two flags
        seconds = arrivals[-1][0] - arrivals[0][0]
        # 228 bytes x 10 bits at 2400 baud = 0.95 s on the wire
        assert 0.75 < seconds < 1.3


def test_fleet_over_tcp_and_the_control_api(emulator, tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        """
[[meter]]
brand = "aidon"
seed = 1
output = "tcp://127.0.0.1:0"

[[generate]]
count = 20
brand = "kamstrup"
seed = 10
port = "closed"
output = "none"
"""
    )
    process = emulator(
        "--fleet",
        str(fleet),
        "--speed",
        "60",
        "--control",
        "127.0.0.1:0",
        "--state-dir",
        str(tmp_path / "state"),
        meters=21,
        control=True,
    )
    api = f"{process.control_url}/api/meters"
    meters = httpx.get(api).json()
    assert len(meters) == 21 and {m["port"] for m in meters[1:]} == {"closed"}
    assert len({m["metering_point_id"] for m in meters}) == 21

    import socket

    host, port = str(process.meters[0]["stream"]).removeprefix("tcp://").split(":")
    clients = [socket.create_connection((host, int(port)), timeout=5) for _ in range(2)]
    received = [bytearray(), bytearray()]
    deadline = time.monotonic() + 1.5
    for client in clients:
        client.settimeout(0.05)
    while time.monotonic() < deadline:
        for client, buffer in zip(clients, received, strict=True):
            with contextlib.suppress(TimeoutError):
                buffer.extend(client.recv(65536))
    for client in clients:
        client.close()
    for data in received:
        kinds = Counter(r.list_kind for r in HanStream().feed(bytes(data)))
        assert kinds["power-only"] >= 10 and kinds["instantaneous"] >= 3

    first = meters[0]["meter_id"]
    assert httpx.get(f"{api}/000").status_code == 404
    assert httpx.put(f"{api}/{first}/port", json={"port": "ajar"}).status_code == 422
    assert httpx.put(f"{api}/{first}/fault", json={"unresponsive": True}).status_code == 200
    assert httpx.put(f"{api}/{first}/port", json={"port": "closed"}).status_code == 503
    assert httpx.get(f"{api}/{first}/port").status_code == 503
    assert httpx.put(f"{api}/{first}/fault", json={"unresponsive": False}).status_code == 200
    assert httpx.get(f"{api}/{first}/port").json()["port"] == "open"

    before = httpx.get(f"{api}/{first}").json()
    loaded = httpx.put(f"{api}/{first}/load", json={"extra_import_w": 20000})
    assert loaded.status_code == 200 and loaded.json()["extra_import_w"] == 20000
    time.sleep(0.5)
    after = httpx.get(f"{api}/{first}").json()
    assert after["pushes"] > before["pushes"] and after["last_push_at"] > before["last_push_at"]


def test_encrypted_kamstrup_with_a_late_hourly_list(tmp_path):
    import subprocess
    import sys

    guek, gak = "000102030405060708090a0b0c0d0e0f", "101112131415161718191a1b1c1d1e1f"
    capture = tmp_path / "enc.bin"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hanport.cli",
            "emulate",
            "--meter",
            "kamstrup",
            "--start",
            "2026-02-01T09:59",
            "--speed",
            "max",
            "--duration",
            "2m",
            "--list2-second",
            "25",
            "--key",
            guek,
            "--auth-key",
            gak,
            "--system-title",
            "4b414d4530313233",
            "--to",
            f"file:{capture}",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    data = capture.read_bytes()
    without_keys = HanStream()
    assert {event.kind for event in without_keys.feed(data)} == {"decrypt"}  # FrameRejected
    stream = HanStream(keys=Keys.from_hex(guek, gak))
    readings = stream.feed(data)
    assert stream.stats.decrypt_errors == 0 and len(readings) == 13
    hourly = [r for r in readings if r.list_kind == "hourly-with-energy"]
    assert [r.values["meter_clock"] for r in hourly] == ["2026-02-01T10:00:25"]
    assert {r.system_title for r in readings} == {b"KAME0123"}


def _by_push(capture) -> dict[tuple[str, str], dict[str, object]]:
    """A Kamstrup capture's pushes by (notification time, list)."""
    return {
        (str(r.values["notification_time"]), r.list_kind): dict(r.values)
        for r in HanStream().feed(capture.read_bytes())
    }


@pytest.mark.slow
def test_kill_and_restart_continues_registers_and_clock(emulator, tmp_path):
    """kill -9, then a restart without --start: the meter goes on from its last checkpoint
    (at most CHECKPOINT_S x speed of simulated time repeated, nothing skipped), and every push
    after the restart is the one an uninterrupted meter would have made, registers included."""
    state, killed, restarted, reference = (tmp_path / n for n in ("s", "a.bin", "b.bin", "c.bin"))
    meter = ("--meter", "kamstrup", "--seed", "3")
    first = emulator(
        *meter,
        "--start",
        "2026-03-02T00:59:00",
        "--speed",
        "60",
        "--to",
        f"file:{killed}",
        "--state-dir",
        str(state),
    )
    deadline = time.monotonic() + 30
    while ("2026-03-02T01:00:05", "hourly-with-energy") not in _by_push(killed):
        assert time.monotonic() < deadline, "no hourly list from the first run"
        time.sleep(0.1)
    time.sleep(0.3)
    first.process.kill()
    first.process.wait(timeout=10)

    second = emulator(
        *meter, "--speed", "max", "--duration", "1h", "--to", f"file:{restarted}",
        "--state-dir", str(state),
    )  # fmt: skip
    assert second.process.wait(timeout=60) == 0
    third = emulator(
        *meter, "--start", "2026-03-02T00:59:00", "--speed", "max", "--duration", "1h10m",
        "--to", f"file:{reference}",
    )  # fmt: skip
    assert third.process.wait(timeout=60) == 0

    before, after, uninterrupted = _by_push(killed), _by_push(restarted), _by_push(reference)
    last_before = datetime.fromisoformat(max(t for t, _ in before))
    first_after = datetime.fromisoformat(min(t for t, _ in after))
    assert first_after <= last_before + timedelta(seconds=10), "pushes were skipped"
    repeated = (last_before - first_after).total_seconds()
    assert repeated <= CHECKPOINT_S * 60 + 10, f"{repeated} s of pushes lost by the kill"
    assert {key: uninterrupted[key] for key in after} == after

    # Hourly registers across the restart: their difference is the integrated power.
    pushes = {**before, **after}
    hour_1 = pushes[("2026-03-02T01:00:05", "hourly-with-energy")]["active_energy_import_kwh"]
    hour_2 = pushes[("2026-03-02T02:00:05", "hourly-with-energy")]["active_energy_import_kwh"]
    powers = [
        v["active_power_import_w"]
        for (t, kind), v in pushes.items()
        if kind == "instantaneous" and "2026-03-02T01:00:00" <= t < "2026-03-02T02:00:00"
    ]
    assert len(powers) == 360
    integrated_kwh = sum(powers) * 10 / 3600 / 1000  # type: ignore[arg-type]
    assert hour_2 - hour_1 == pytest.approx(integrated_kwh, abs=0.0101)  # type: ignore[operator]


def test_key_options_are_spelled_as_in_decode_and_the_old_names_still_work():
    parser = argparse.ArgumentParser()
    configure_emulate(parser)
    guek, gak = "000102030405060708090a0b0c0d0e0f", "101112131415161718191a1b1c1d1e1f"
    new = parser.parse_args(["--key", guek, "--auth-key", gak])
    old = parser.parse_args(["--guek", guek, "--gak", gak])
    assert (new.guek, new.gak) == (old.guek, old.gak) == (bytes.fromhex(guek), bytes.fromhex(gak))
    (config,) = _configs(new)
    assert (config.guek, config.gak) == (bytes.fromhex(guek), bytes.fromhex(gak))
    with pytest.raises(FleetError, match="--key and --auth-key go together"):
        _configs(parser.parse_args(["--key", guek]))


def test_the_clock_starts_where_the_meters_stopped_and_never_goes_back(tmp_path, capsys):
    store = PortStateStore(tmp_path)
    config = MeterConfig(output="none").completed()
    stopped = datetime(2026, 3, 2, 12, 0, 10, tzinfo=UTC)
    energy = (36_000_000_000, 0, 0, 0)
    store.save_meter(config.meter_id, MeterState(stopped, energy, energy, stopped))
    assert _start_time(None, store, [config], speed=60) == stopped
    assert _start_time(None, store, [config], speed=None) == stopped
    later = datetime(2026, 3, 5, tzinfo=OSLO)
    assert _start_time(later, store, [config], speed=60) == later  # the gap is counted
    earlier = datetime(2026, 3, 1, tzinfo=OSLO)
    assert _start_time(earlier, store, [config], speed=60) == stopped
    assert "never go back" in capsys.readouterr().err


def test_a_real_time_meter_restarts_at_real_time(tmp_path):
    """At speed 1 a meter keeps real time across a restart (the downtime is consumption, as
    MeterModel.pushes counts it), unless it had already got ahead of real time."""
    store = PortStateStore(tmp_path)
    config = MeterConfig(output="none").completed()
    energy = (36_000_000_000, 0, 0, 0)
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    store.save_meter(config.meter_id, MeterState(past, energy, energy, past))
    before = datetime.now(UTC).replace(microsecond=0)
    start = _start_time(None, store, [config], speed=1)
    assert before <= start <= datetime.now(UTC)
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    store.save_meter(config.meter_id, MeterState(ahead, energy, energy, ahead))
    assert _start_time(None, store, [config], speed=1) == ahead


def test_ctrl_c_with_tcp_clients_connected_stops_quietly(emulator):
    import signal
    import socket

    process = emulator("--to", "tcp://127.0.0.1:0", "--speed", "10")
    host, port = str(process.meters[0]["stream"]).removeprefix("tcp://").split(":")
    clients = [socket.create_connection((host, int(port))) for _ in range(2)]
    try:
        time.sleep(0.5)
        process.process.send_signal(signal.SIGINT)
        _, err = process.process.communicate(timeout=15)
    finally:
        for client in clients:
            client.close()
    assert process.process.returncode == 0
    assert "Traceback" not in err.decode() and "CancelledError" not in err.decode()


def test_many_pty_meters_raise_the_file_limit_or_say_which_limit_stops_them(tmp_path):
    import resource
    import subprocess
    import sys

    fleet = tmp_path / "fleet.toml"
    fleet.write_text("[[generate]]\ncount = 40\nbrand = 'aidon'\noutput = 'pty'\n")

    def run(soft: int, hard: int) -> subprocess.CompletedProcess[str]:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        return subprocess.run(
            [sys.executable, "-m", "hanport.cli", "emulate", "--fleet", str(fleet),
             "--speed", "600", "--duration", "10s"],
            capture_output=True, text=True, timeout=60, check=False, preexec_fn=limit,
        )  # fmt: skip

    # 40 pty meters hold 80 descriptors: a soft limit of 64 is raised to the hard one
    assert run(64, 4096).returncode == 0
    # a hard limit of 64 cannot be raised: a clear error naming it, no traceback
    failed = run(64, 64)
    assert failed.returncode == 2, failed.stderr
    assert "file descriptors (limit 64)" in failed.stderr and "Traceback" not in failed.stderr
