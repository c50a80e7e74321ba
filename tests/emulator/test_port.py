"""Port state table and its store on disk."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hanport.emulator.meter import MeterState
from hanport.emulator.port import (
    TRANSITIONS,
    PortCommand,
    PortState,
    PortStatus,
    apply_command,
)
from hanport.emulator.state import PortStateStore, StateFileError

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_every_state_answers_every_command():
    assert set(TRANSITIONS) == set(PortState)
    for table in TRANSITIONS.values():
        assert set(table) == set(PortCommand)


@pytest.mark.parametrize(
    ("state", "command", "after", "moved"),
    [
        (PortState.CLOSED, PortCommand.OPEN, PortState.OPEN, True),
        (PortState.OPEN, PortCommand.CLOSE, PortState.CLOSED, True),
        (PortState.OPEN, PortCommand.OPEN, PortState.OPEN, False),
        (PortState.CLOSED, PortCommand.CLOSE, PortState.CLOSED, False),
    ],
)
def test_transitions(state, command, after, moved):
    status = PortStatus("5706567274389702", state)
    new = apply_command(status, command, NOW)
    assert new.state is after
    assert (new.changed_at == NOW) is moved


def test_store_round_trip_and_atomic_files(tmp_path):
    store = PortStateStore(tmp_path / "state")
    assert store.load("5706567274389702") is None
    status = PortStatus("5706567274389702", PortState.CLOSED, NOW)
    store.save(status)
    assert PortStateStore(tmp_path / "state").load("5706567274389702") == status
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["port-5706567274389702.json"]


def test_a_damaged_state_file_is_reported_and_kept(tmp_path):
    store = PortStateStore(tmp_path)
    path = tmp_path / "port-5706567274389702.json"
    path.write_text('{"meter_id": "5706567274389702", "port": "ajar"}')
    with pytest.raises(StateFileError, match=r"port-5706567274389702\.json"):
        store.load("5706567274389702")
    assert path.read_text().endswith('"ajar"}')


def test_meter_ids_cannot_escape_the_state_directory(tmp_path):
    with pytest.raises(ValueError, match="cannot name"):
        PortStateStore(tmp_path).load("../etc/passwd")


def test_meter_state_round_trip_and_damaged_file(tmp_path):
    store = PortStateStore(tmp_path)
    assert store.load_meter("5706567200000001") is None
    state = MeterState(
        datetime(2026, 5, 1, 12, 0, 10, tzinfo=UTC),
        (36_000_000_000_123, 0, 4_500_000_000, 0),
        (36_000_000_000_000, 0, 4_499_000_000, 0),
        datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC),
        1500.0,
    )
    store.save_meter("5706567200000001", state)
    assert store.load_meter("5706567200000001") == state
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"
    (tmp_path / "meter-5706567200000001.json").write_text('{"meter_id": "5706567200000001"}')
    with pytest.raises(StateFileError, match=r"meter-5706567200000001\.json"):
        store.load_meter("5706567200000001")
