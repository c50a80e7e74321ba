"""Port states on disk, so that they survive an emulator restart.

One JSON file per meter in the state directory, replaced atomically (write a temporary file in
the same directory, fsync, rename), so a crash leaves either the old or the new state. A file that
cannot be read stops the emulator with its path: guessing a state would silently open or close a
customer's port.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from hanport.emulator.port import PortState, PortStatus

__all__ = ["PortStateStore", "StateFileError"]

_SAFE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class StateFileError(RuntimeError):
    """A state file exists but does not hold a valid port state."""


class PortStateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, meter_id: str) -> Path:
        if not _SAFE_ID.match(meter_id):
            raise ValueError(f"meter id {meter_id!r} cannot name a state file")
        return self.directory / f"port-{meter_id}.json"

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
        path = self._path(status.meter_id)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as tmp:
                json.dump(status.to_json(), tmp)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
