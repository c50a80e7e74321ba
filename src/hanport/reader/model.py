"""The reader's own record of one push, built from a protocol ``Reading``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hanport.reader.energy import hour_start, parse_local

__all__ = ["Clock", "Push", "RejectedFrame", "push_from_reading"]


#: where a push's ``at`` came from: the meter's own time in the push (``meter``), the meter's
#: time of its latest timed push plus the arrival time since (``inferred``), or, before the
#: meter has said what time it is, the arrival time (``received``)
Clock = Literal["meter", "inferred", "received"]

#: pushes of one meter are at least this far apart, so two untimed pushes that arrive in one
#: chunk keep distinct times (the readings table is unique on meter, time and list)
MIN_STEP_S = 0.001


@dataclass(slots=True)
class Push:
    """One decoded push as stored: ``at`` is the meter time it stands for (POSIX seconds)."""

    meter_id: str
    at: float
    received_at: float
    list_kind: str
    manufacturer: str
    values: dict[str, Any]
    source: str = ""
    frame: bytes = b""
    register_hour: int | None = None  # set when the push carries cumulative energy registers
    clock: Clock = "meter"

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
    previous_at: float | None = None,
    anchor: tuple[float, float] | None = None,
    fallback_meter_id: str | None = None,
) -> Push | None:
    """Map a ``hanport.protocol.Reading`` to a ``Push``; None when no meter is known yet.

    Every push is stamped with the meter's time, never the reader's: the meter's clock decides
    which hour energy belongs to, also when it drifts, when a capture is replayed or imported
    long after it was recorded, and when an emulator runs faster than real time.

    Pushes without a time of their own (Aidon's lists 1 and 2 carry none; only its hourly
    list has the meter clock) get the time of the meter's latest timed push, ``anchor`` =
    (its meter time, its arrival time), plus the arrival time elapsed since. The elapsed time
    is not scaled: how fast the meter's clock runs against ours cannot be known between two
    timed pushes, and the next timed push corrects any drift. Before a meter's first timed
    push, its arrival time is the only guess (``clock`` "received").
    """
    values: Mapping[str, Any] = reading.values
    # Aidon/Kaifa's 2-second list carries power only, no meter ID: on one byte stream it
    # belongs to the meter the stream last named
    meter_id = values.get("meter_id") or fallback_meter_id
    if not meter_id:
        return None
    meter_time = values.get("notification_time") or values.get("meter_clock")
    at: float | None = None
    clock: Clock = "meter"
    if isinstance(meter_time, str):
        try:
            at = parse_local(meter_time, not_before=previous_at)
        except ValueError:
            at = None
    if at is None:
        if anchor is not None:
            at, clock = anchor[0] + max(0.0, received_at - anchor[1]), "inferred"
        else:
            at, clock = received_at, "received"
        if previous_at is not None and at <= previous_at:
            at = previous_at + MIN_STEP_S
    register_hour = None
    if values.get("active_energy_import_kwh") is not None:
        register_clock = values.get("meter_clock")
        register_time = at
        if isinstance(register_clock, str):
            try:
                register_time = parse_local(register_clock, not_before=previous_at)
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
        clock=clock,
    )
