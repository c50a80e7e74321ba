"""A running meter: the port gates frames, never the registers; outputs and the clock."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from hanport.emulator.fleet import MeterConfig
from hanport.emulator.load import OSLO
from hanport.emulator.port import PortState
from hanport.emulator.serve import (
    CHECKPOINT_SIMULATED,
    FRAME_COUNTER_LEASE,
    SimClock,
    build_runtime,
    open_output,
    run_meter,
)
from hanport.emulator.state import PortStateStore, StateFileError
from hanport.protocol import HanStream, Keys
from services.waiting import wait_for_async

START = datetime(2026, 2, 2, 8, tzinfo=OSLO)


def test_a_closed_port_sends_nothing_but_the_registers_go_on_counting(tmp_path):
    config = MeterConfig(port=PortState.CLOSED, output="none").completed()
    runtime = build_runtime(config, SimClock(START, None), None)
    pushes = runtime.model.pushes(START, START + timedelta(hours=2))
    before = runtime.model.registers
    frames, done = runtime._batch(pushes, 361)  # the first hour (360 + 1 pushes), closed
    assert frames == [] and not done and runtime.pushes == 0
    consumed = runtime.model.registers.active_import - before.active_import
    assert consumed > 0

    runtime.set_port(PortState.OPEN, START + timedelta(hours=1))
    frames, done = runtime._batch(pushes, 10_000)
    assert done and runtime.pushes == len(frames) == 361
    hourly = [r for r in HanStream().feed(b"".join(frames)) if r.list_kind == "hourly-with-energy"]
    # The generator stops before integrating the hour's last slot: allow one register unit.
    assert hourly[0].values["active_energy_import_kwh"] == pytest.approx(
        (before.active_import + consumed) / 100, abs=0.0101
    )


async def test_speed_max_writes_a_capture_file(tmp_path):
    capture = tmp_path / "capture.bin"
    config = MeterConfig(brand="kaifa", phases=1, output=f"file:{capture}").completed()
    clock = SimClock(START, None)
    runtime = build_runtime(config, clock, None)
    await runtime.output.start()
    clock.begin()
    await run_meter(runtime, START + timedelta(minutes=10))
    await runtime.output.close()
    readings = HanStream().feed(capture.read_bytes())
    assert len(readings) == runtime.pushes == 300  # one push every 2 s
    assert clock.now() == START + timedelta(minutes=10) - timedelta(seconds=2)


async def test_sim_clock_runs_speed_times_faster():
    clock = SimClock(START, 600)
    clock.begin()
    await clock.sleep_until(START + timedelta(seconds=60))  # 0.1 s of real time
    assert clock.now() - START >= timedelta(seconds=60)
    assert clock.now() - START < timedelta(seconds=600)


@pytest.mark.parametrize(
    ("start", "utc"),
    [
        # 01:30 CET; two hours later it is 04:30 CEST (02:30Z), not 03:30 local
        (datetime(2026, 3, 29, 1, 30, tzinfo=OSLO), datetime(2026, 3, 29, 2, 30, tzinfo=UTC)),
        # 01:30 CEST; two hours later it is 02:30 CET (01:30Z), after 02:00-03:00 twice
        (datetime(2026, 10, 25, 1, 30, tzinfo=OSLO), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ],
)
def test_sim_clock_counts_elapsed_time_across_daylight_saving(start, utc):
    real_time = [100.0]
    clock = SimClock(start, 7200, real_time=lambda: real_time[0])  # 2 simulated hours a second
    clock.begin()
    real_time[0] += 1.0
    assert clock.now().astimezone(UTC) == utc


def test_output_addresses_are_checked():
    for bad in ("tcp://:80", "tcp://host", "serial:/dev/ttyUSB0"):
        with pytest.raises(ValueError, match=r"tcp://HOST:PORT|unknown output"):
            open_output(bad, bits_per_char=10, speed=1)


async def test_tcp_output_serves_several_clients():
    output = open_output("tcp://127.0.0.1:0", bits_per_char=10, speed=None)
    await output.start()
    host, port = output.address.removeprefix("tcp://").split(":")
    clients = [await asyncio.open_connection(host, int(port)) for _ in range(3)]
    await wait_for_async(lambda: output.client_count == 3, what="the server to take 3 clients")
    await output.send(b"\x7e" * 100)
    for reader, writer in clients:
        assert await reader.readexactly(100) == b"\x7e" * 100
        writer.close()
    await output.close()


def test_a_state_saved_by_another_kind_of_meter_is_refused_with_its_path(tmp_path):
    store = PortStateStore(tmp_path)
    kaifa = MeterConfig(brand="kaifa", meter_id="6970631000000001", output="none").completed()
    runtime = build_runtime(kaifa, SimClock(START, None), store)
    list(runtime._batch(runtime.model.pushes(START, START + timedelta(seconds=2)), 10))
    runtime.checkpoint(final=True)  # stopped at hh:00:02, between two Kamstrup slots
    kamstrup = MeterConfig(meter_id=kaifa.meter_id, output="none").completed()
    with pytest.raises(StateFileError, match=r"meter-6970631000000001\.json.*another kind"):
        build_runtime(kamstrup, SimClock(START, None), store)


def test_an_encrypted_meter_never_reuses_a_frame_counter_across_restarts(tmp_path):
    """The frame counter is the AES-GCM nonce: it goes on after an orderly stop, and after a
    kill (the last running checkpoint leased counters ahead) it starts past any it used."""
    keys = Keys(bytes(range(16)), bytes(range(16, 32)))
    config = MeterConfig(
        output="none", guek=keys.guek, gak=keys.gak, system_title=b"KAMEMU01"
    ).completed()

    def run(minutes: int, *, final: bool) -> list[int]:
        # a new store each time, as a restarted process reads the directory afresh
        runtime = build_runtime(config, SimClock(START, None), PortStateStore(tmp_path))
        pushes = runtime.model.pushes(START, START + timedelta(hours=3))
        frames, _ = runtime._batch(pushes, minutes * 6)
        runtime.made_through = runtime._batch_through
        runtime._saved_at = -1.0  # due now
        runtime.checkpoint(final=final)
        stream = HanStream(keys=keys)
        counters = [reading.frame_counter for reading in stream.feed(b"".join(frames))]
        assert stream.stats.decrypt_errors == 0 and len(counters) == len(frames)
        return counters

    first = run(2, final=True)
    assert first == list(range(1, 13))
    second = run(2, final=True)  # an orderly restart: the very next counters
    assert second == list(range(13, 25))
    killed = run(2, final=False)  # a running checkpoint, then the process is gone
    assert killed == list(range(25, 37))
    after_kill = run(1, final=True)
    assert after_kill[0] > killed[-1]
    assert after_kill[0] == 36 + FRAME_COUNTER_LEASE + 1


async def test_a_resumed_meter_appends_to_its_capture_file(tmp_path):
    store = PortStateStore(tmp_path / "state")
    capture = tmp_path / "capture.bin"
    config = MeterConfig(brand="kaifa", phases=1, output=f"file:{capture}").completed()
    for minutes in (1, 2):
        clock = SimClock(START, None)
        runtime = build_runtime(config, clock, store)
        await runtime.output.start()
        clock.begin()
        await run_meter(runtime, START + timedelta(minutes=minutes))
        await runtime.output.close()
    readings = HanStream().feed(capture.read_bytes())
    assert len(readings) == 60  # the first minute's 30 pushes, then the second's


def test_control_times_carry_their_offset_in_the_repeated_autumn_hour():
    config = MeterConfig(output="none").completed()
    runtime = build_runtime(config, SimClock(START, None), None)
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 summer time
    second = first + timedelta(hours=1)  # 02:30 again, winter time
    runtime.set_port(PortState.CLOSED, first)
    runtime.last_push_at = second
    port = runtime.port_json()
    assert port["changed_at"] == "2026-10-25T02:30:00+02:00"
    assert port["last_push_at"] == "2026-10-25T02:30:00+01:00"
    assert runtime.meter_json()["last_push_at"] == "2026-10-25T02:30:00+01:00"


def test_a_fast_meter_checkpoints_every_simulated_minute(tmp_path):
    """At speed 3600 a quarter of a real second is 15 simulated minutes: a meter killed outright
    would repeat them after its restart (its clock going back), so checkpoints also come every
    CHECKPOINT_SIMULATED of simulated time."""
    store = PortStateStore(tmp_path)
    config = MeterConfig(output="none").completed()
    runtime = build_runtime(config, SimClock(START, 3600), store)
    pushes = runtime.model.pushes(START, START + timedelta(hours=1))
    runtime._batch(pushes, 6)  # the first minute
    runtime.made_through = runtime._batch_through
    runtime._saved_at = -1.0
    runtime.checkpoint()  # due by real time
    runtime._batch(pushes, 60)  # ten simulated minutes, within the same real quarter second
    runtime.made_through = runtime._batch_through
    runtime.checkpoint()
    store.flush_staged()  # the fleet's running checkpoints go out every tenth of a second
    saved = PortStateStore(tmp_path).load_meter(config.meter_id)
    assert saved is not None and saved.pushed_through == runtime.made_through
    assert runtime.made_through - START > CHECKPOINT_SIMULATED


def test_a_running_fleet_checkpoints_into_one_file(tmp_path):
    """Hundreds of meters each writing their own file four times a second cost more CPU than
    the meters (review #8): running checkpoints go to one file, a meter's own file is written
    when it stops, and a restart takes whichever got further."""
    store = PortStateStore(tmp_path)
    runtimes = []
    for seed in range(20):
        config = MeterConfig(seed=seed, output="none").completed()
        runtime = build_runtime(config, SimClock(START, None), store)
        runtime._batch(runtime.model.pushes(START, START + timedelta(hours=1)), 30)
        runtime.made_through = runtime._batch_through
        runtime.checkpoint()
        runtimes.append(runtime)
    store.flush_staged()
    assert not list(tmp_path.glob("meter-*.json"))
    assert sorted(json.loads((tmp_path / "running-meters.json").read_text())) == sorted(
        r.meter_id for r in runtimes
    )
    restarted = PortStateStore(tmp_path)
    for runtime in runtimes:
        saved = restarted.load_meter(runtime.meter_id)
        assert saved is not None and saved.pushed_through == runtime.made_through
    # a meter that stopped in order: its own file, and it wins over its older running checkpoint
    first = runtimes[0]
    first._batch(first.model.pushes(START, START + timedelta(hours=1)), 6)
    first.made_through = first._batch_through
    first.checkpoint(final=True)
    saved = PortStateStore(tmp_path).load_meter(first.meter_id)
    assert saved is not None and saved.pushed_through == first.made_through
