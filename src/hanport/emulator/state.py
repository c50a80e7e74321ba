"""Port states and meter states on disk, so that a meter survives an emulator restart.

Two JSON files per meter in the state directory, each replaced atomically (write a temporary
file in the same directory, rename over the old one), so a crash leaves either the old or the new
state: ``port-ID.json`` (open/closed, written when it changes and fsynced, as a lost port command
would open or close a customer's port) and ``meter-ID.json`` (registers, simulated time and
encryption frame counter, :class:`~hanport.emulator.meter.MeterState`, written every fraction
of a second while the meter runs). A killed process leaves its last checkpoint in the page
cache, so checkpoints are fsynced only on an orderly stop: a fleet of hundreds of meters would
otherwise fsync thousands of times a second, and an older checkpoint after a power cut is still
a consistent one (time and registers from the same instant). A file that cannot be read stops
the emulator with its path: guessing a state would silently open or close a port, or move
registers.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from hanport.emulator.meter import MeterState
from hanport.emulator.port import PortState, PortStatus

__all__ = ["PortStateStore", "StateFileError"]

_SAFE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class StateFileError(RuntimeError):
    """A state file exists but does not hold a valid port state."""


class PortStateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

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

    def load_meter(self, meter_id: str) -> MeterState | None:
        """The registers and simulated time a meter reached (None: it never ran here)."""
        path = self.meter_path(meter_id)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if data["meter_id"] != meter_id:
                raise ValueError(f"it belongs to meter {data['meter_id']!r}")
            pushed_through = data["pushed_through"]
            state = MeterState(
                _aware(data["integrated_to"]),
                _energies(data["energy_w_ms"]),
                _energies(data["hour_energy_w_ms"]),
                _aware(pushed_through) if pushed_through is not None else None,
                float(data["extra_import_w"]),
                _frame_counter(data.get("frame_counter", 0)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise StateFileError(
                f"{path}: not a valid meter state ({error}); fix or remove the file (the meter "
                f"then starts from new registers) / ugyldig målertilstand ({error}); rett eller "
                "fjern fila (måleren starter da med nye tellerverk)"
            ) from error
        return state

    def save_meter(self, meter_id: str, state: MeterState, *, durable: bool = False) -> None:
        data = {
            "meter_id": meter_id,
            "integrated_to": state.integrated_to.isoformat(),
            "energy_w_ms": list(state.energy_w_ms),
            "hour_energy_w_ms": list(state.hour_energy_w_ms),
            "pushed_through": state.pushed_through.isoformat() if state.pushed_through else None,
            "extra_import_w": state.extra_import_w,
            "frame_counter": state.frame_counter,
        }
        self._write(self.meter_path(meter_id), data, durable=durable)

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
