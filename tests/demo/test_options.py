"""`hanport demo` options, ports and the state a restart continues from."""

from __future__ import annotations

import argparse
import os
import socket
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hanport.demo import configure_demo, run_demo
from hanport.demo.orchestrator import (
    DemoError,
    DemoPorts,
    DemoState,
    _port_is_free,
    hold_folder_lock,
)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_demo(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = _parse()
    assert args.dir == Path("demo-data")
    assert args.speed == 60
    assert args.port_base == 8470


@pytest.mark.parametrize("speed", ["0", "-1", "fast", "100000"])
def test_bad_speed_is_refused_with_a_message(
    speed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _parse("--speed", speed)
    assert "speed" in capsys.readouterr().err


def test_reset_refuses_a_folder_that_is_not_a_demo_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("…")
    assert run_demo(_parse("--dir", str(precious), "--reset")) == 2
    assert (precious / "chapter1.tex").exists()
    assert "not a demo folder" in capsys.readouterr().out


def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DemoError, match=f"port {port} \\(portal\\) is in use by another"):
            DemoPorts.from_base(port)


def test_connections_left_in_time_wait_do_not_make_a_port_busy() -> None:
    # A restart right after Ctrl-C: the server closed the dashboard's connections first, so
    # they sit in TIME_WAIT on the server's port; nothing listens any more. The listener sets
    # SO_REUSEADDR as uvicorn's does (Linux lets a port be rebound past TIME_WAIT only then).
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()
        client.recv(1)  # sees the server's FIN
        client.close()
    assert _port_is_free(port)


def test_a_second_demo_in_the_same_folder_is_named_as_such(tmp_path: Path) -> None:
    first = hold_folder_lock(tmp_path)
    try:
        with pytest.raises(DemoError, match=f"another demo is running.*pid {os.getpid()}"):
            hold_folder_lock(tmp_path)
    finally:
        os.close(first)
    os.close(hold_folder_lock(tmp_path))  # free again once the first has stopped


def test_free_ports_when_base_is_zero() -> None:
    ports = DemoPorts.from_base(0).as_tuple()
    assert len(set(ports)) == 7 and all(ports)


def test_state_round_trip_and_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    assert DemoState.load(path).simulated_clock is None
    clock = datetime(2026, 3, 29, 1, 59, 30, tzinfo=ZoneInfo("Europe/Oslo"))
    DemoState(clock, {"portal": "http://127.0.0.1:1/"}).save(path)
    loaded = DemoState.load(path)
    assert loaded.simulated_clock == clock
    assert loaded.urls == {"portal": "http://127.0.0.1:1/"}
    path.write_text("{not json")
    with pytest.raises(DemoError, match="damaged"):
        DemoState.load(path)
