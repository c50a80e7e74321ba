"""Port states and meter states on disk, so that a meter survives an emulator restart.

Two JSON files per meter in the state directory, each replaced atomically (write a temporary
file in the same directory, rename over the old one), so a crash leaves either the old or the new
state: ``port-ID.json`` (open/closed, written when it changes and fsynced, as a lost port command
would open or close a customer's port) and ``meter-ID.json`` (registers, simulated time and
encryption frame counter, :class:`~hanport.emulator.meter.MeterState`, written and fsynced when
the meter stops). While the meters run, their checkpoints go to one file for the whole fleet,
``running-meters.json``, at most every tenth of a second: a file per meter per checkpoint cost a
fleet of hundreds more CPU than the meters. A meter resumes from whichever of its own file and
its running checkpoint got further. A killed process leaves its last checkpoint in the page cache,
so running checkpoints are not fsynced: an older checkpoint after a power cut is still a
consistent one (time and registers from the same instant). A file that cannot be read stops the
emulator with its path: guessing a state would silently open or close a port, or move registers.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from hanport.emulator.meter import MeterState
from hanport.emulator.port import PortState, PortStatus

__all__ = ["PortStateStore", "StateFileError"]

_SAFE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
#: every running meter's last checkpoint, one file for the fleet
RUNNING_FILE = "running-meters.json"
#: real seconds between two writes of the running checkpoints
RUNNING_FLUSH_S = 0.1


class StateFileError(RuntimeError):
    """A state file exists but does not hold a valid port state."""


class PortStateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._staged: dict[str, MeterState] = {}
        #: what the running checkpoints file holds (read once)
        self._running: dict[str, dict[str, object]] | None = None
        self._flushed_at = 0.0

    def _path(self, meter_id: str, kind: str = "port") -> Path:
        if not _SAFE_ID.match(meter_id):
            raise ValueError(f"meter id {meter_id!r} cannot name a state file")
        return self.directory / f"{kind}-{meter_id}.json"

    def load(self, meter_id: str) -> PortStatus | None:
        path = self._path(meter_id)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if data["meter_id"] != meter_id:
                raise ValueError(f"it belongs to meter {data['meter_id']!r}")
            changed_at = data.get("changed_at")
            return PortStatus(
                meter_id,
                PortState(data["port"]),
                datetime.fromisoformat(changed_at) if changed_at else None,
            )
        except (ValueError, KeyError, TypeError) as error:
            raise StateFileError(
                f"{path}: not a valid port state ({error}); fix or remove the file / "
                f"ugyldig porttilstand ({error}); rett eller fjern fila"
            ) from error

    def save(self, status: PortStatus) -> None:
        self._write(self._path(status.meter_id), status.to_json(), durable=True)

    def meter_path(self, meter_id: str) -> Path:
        return self._path(meter_id, "meter")

    @property
    def running_path(self) -> Path:
        """The running checkpoints of every meter, in one file (see :meth:`stage_meter`)."""
        return self.directory / RUNNING_FILE

    def load_meter(self, meter_id: str) -> MeterState | None:
        """The registers and simulated time a meter reached (None: it never ran here): its own
        file (saved when it stopped) or its running checkpoint, whichever got further."""
        path = self.meter_path(meter_id)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            stopped = None
        else:
            try:
                stopped = _meter_state(json.loads(raw), meter_id)
            except (ValueError, KeyError, TypeError) as error:
                raise StateFileError(
                    f"{path}: not a valid meter state ({error}); fix or remove the file (the "
                    f"meter then starts from new registers) / ugyldig målertilstand ({error}); "
                    "rett eller fjern fila (måleren starter da med nye tellerverk)"
                ) from error
        entry = self._running_checkpoints().get(meter_id)
        try:
            running = _meter_state(entry, meter_id) if entry is not None else None
        except (ValueError, KeyError, TypeError) as error:
            raise StateFileError(
                f"{self.running_path}: meter {meter_id} is not a valid meter state ({error}); "
                "remove the file (the meters then continue from their own files) / ugyldig "
                "målertilstand; fjern fila"
            ) from error
        if running is None or (
            stopped is not None and stopped.integrated_to >= running.integrated_to
        ):
            return stopped
        return running

    def save_meter(self, meter_id: str, state: MeterState, *, durable: bool = False) -> None:
        """A meter's state in its own file (when it stops: ``durable`` fsyncs it)."""
        self._write(self.meter_path(meter_id), _meter_json(meter_id, state), durable=durable)

    def stage_meter(self, meter_id: str, state: MeterState) -> None:
        """A running meter's checkpoint: kept with the fleet's others and written with them to
        one file at most every :data:`RUNNING_FLUSH_S`. A file per meter per checkpoint cost a
        fleet of hundreds more CPU than the meters themselves."""
        self._path(meter_id)  # the id must be a safe one here too
        self._staged[meter_id] = state
        if time.monotonic() - self._flushed_at >= RUNNING_FLUSH_S:
            self.flush_staged()

    def flush_staged(self) -> None:
        """Write the staged running checkpoints now (with every other meter's last one)."""
        if not self._staged:
            return
        running = self._running_checkpoints()
        for meter_id, state in self._staged.items():
            running[meter_id] = _meter_json(meter_id, state)
        self._staged.clear()
        self._write(self.running_path, running, durable=False)
        self._flushed_at = time.monotonic()

    def _running_checkpoints(self) -> dict[str, dict[str, object]]:
        if self._running is None:
            try:
                data = json.loads(self.running_path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                data = {}
            except ValueError as error:
                raise StateFileError(
                    f"{self.running_path}: not valid JSON ({error}); remove it (the meters then "
                    "continue from their own files) / ugyldig JSON; fjern fila"
                ) from error
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise StateFileError(
                    f"{self.running_path}: not meter checkpoints; remove it / fjern fila"
                )
            self._running = data
        return self._running

    def _write(self, path: Path, data: Mapping[str, object], *, durable: bool) -> None:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as tmp:
                json.dump(data, tmp)
                if durable:
                    tmp.flush()
                    os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


def _meter_json(meter_id: str, state: MeterState) -> dict[str, object]:
    return {
        "meter_id": meter_id,
        "integrated_to": state.integrated_to.isoformat(),
        "energy_w_ms": list(state.energy_w_ms),
        "hour_energy_w_ms": list(state.hour_energy_w_ms),
        "pushed_through": state.pushed_through.isoformat() if state.pushed_through else None,
        "extra_import_w": state.extra_import_w,
        "frame_counter": state.frame_counter,
    }


def _meter_state(data: Mapping[str, object], meter_id: str) -> MeterState:
    if data["meter_id"] != meter_id:
        raise ValueError(f"it belongs to meter {data['meter_id']!r}")
    pushed_through = data["pushed_through"]
    extra = data["extra_import_w"]
    if not isinstance(extra, int | float):
        raise TypeError(f"extra_import_w {extra!r} is not a number")
    return MeterState(
        _aware(data["integrated_to"]),
        _energies(data["energy_w_ms"]),
        _energies(data["hour_energy_w_ms"]),
        _aware(pushed_through) if pushed_through is not None else None,
        float(extra),
        _frame_counter(data.get("frame_counter", 0)),
    )


def _aware(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError(f"{text!r} is not a time")
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return value


def _frame_counter(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 32:
        raise ValueError(f"{value!r} is not a 32-bit frame counter")
    return value


def _energies(value: object) -> tuple[int, int, int, int]:
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int) and v >= 0 for v in value)
    ):
        raise ValueError(f"{value!r} is not four energies")
    a, b, c, d = value
    return (a, b, c, d)
