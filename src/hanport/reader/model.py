"""The reader's own record of one push, built from a protocol ``Reading``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hanport.reader.energy import hour_start, parse_local

__all__ = ["Push", "RejectedFrame", "push_from_reading"]


@dataclass(slots=True)
class Push:
    """One decoded push as stored: ``at`` is the time it stands for (POSIX seconds)."""

    meter_id: str
    at: float
    received_at: float
    list_kind: str
    manufacturer: str
    values: dict[str, Any]
    source: str = ""
    frame: bytes = b""
    register_hour: int | None = None  # set when the push carries cumulative energy registers

    def to_json(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(slots=True)
class RejectedFrame:
    received_at: float
    source: str
    reason: str
    kind: str
    frame: bytes = field(default=b"")


def push_from_reading(
    reading: Any,
    *,
    received_at: float,
    source: str,
    use_meter_time: bool,
    previous_at: float | None = None,
    fallback_meter_id: str | None = None,
) -> Push | None:
    """Map a ``hanport.protocol.Reading`` to a ``Push``; None when no meter is known yet.

    Live sources stamp pushes with the host clock (``received_at``); replays and imports use
    the meter's own time, so a year imported in minutes lands in the right hours.
    """
    values: Mapping[str, Any] = reading.values
    # Aidon/Kaifa's 2-second list carries power only, no meter ID: on one byte stream it
    # belongs to the meter the stream last named
    meter_id = values.get("meter_id") or fallback_meter_id
    if not meter_id:
        return None
    meter_time = values.get("notification_time") or values.get("meter_clock")
    at = received_at
    if use_meter_time and isinstance(meter_time, str):
        try:
            at = parse_local(meter_time, not_before=previous_at)
        except ValueError:
            at = received_at
    register_hour = None
    if values.get("active_energy_import_kwh") is not None:
        clock = values.get("meter_clock")
        register_time = at
        if isinstance(clock, str):
            try:
                register_time = parse_local(clock, not_before=previous_at)
            except ValueError:
                register_time = at
        # the hourly list is generated on the hour and sent up to a minute later
        register_hour = hour_start(register_time + 120)
    return Push(
        meter_id=str(meter_id),
        at=at,
        received_at=received_at,
        list_kind=str(getattr(reading, "list_kind", values.get("list_kind", "other"))),
        manufacturer=str(getattr(reading, "manufacturer", values.get("manufacturer", ""))),
        values=dict(reading.to_json()),
        source=source,
        frame=bytes(getattr(reading, "frame", b"")),
        register_hour=register_hour,
    )
