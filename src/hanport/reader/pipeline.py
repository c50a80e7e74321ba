"""Bytes → HanStream → pushes: stamps the meter's time and the receive time, counts rejects,
fans out to sinks.

One ``SourceFeed`` per byte stream (a serial port, a TCP connection, one MQTT topic, a file);
each has its own ``HanStream`` so frames of different meters never mix. The ``Hub`` hands every
push to its sinks (writer, live state, MQTT) and keeps the recent frames for diagnosis.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hanport.protocol import (
    ApduDecoder,
    FrameRejected,
    HanStream,
    Keys,
    Reading,
    ScalerOverride,
)
from hanport.reader.model import Push, RejectedFrame, push_from_reading

__all__ = ["CommitLog", "Hub", "SourceFeed", "SourceStatus"]

PushSink = Callable[[Push], None]
RejectSink = Callable[[RejectedFrame], None]


@dataclass(slots=True)
class SourceStatus:
    """What /api/health shows of one source."""

    name: str
    kind: str
    state: str = "starting"  # starting | connecting | connected | detecting | retrying | done
    detail: str = ""
    frames_ok: int = 0
    crc_errors: int = 0
    undecodable: int = 0
    decrypt_errors: int = 0
    last_frame_at: float | None = None
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=600))

    def frames_per_s(self, now: float, window: float = 60.0) -> float:
        # a copy made in one C call: the API reads this in a worker thread while the event
        # loop appends, and iterating the deque itself could meet a mutation
        kept = self._recent.copy()
        recent = [t for t in kept if now - t <= window]
        if not recent:
            return 0.0
        if len(recent) == 1:
            return round(1 / window, 3)
        # at least a second, so two frames close together are not a burst rate; but once the
        # kept arrivals span less (a fleet's thousands a second) they are the rate
        shortest = 1.0 if len(kept) < (kept.maxlen or 0) else 1e-3
        return round(len(recent) / max(now - recent[0], shortest), 3)

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "detail": self.detail,
            "frames_per_s": self.frames_per_s(now),
            "frames_ok": self.frames_ok,
            "crc_errors": self.crc_errors,
            "undecodable": self.undecodable,
            "decrypt_errors": self.decrypt_errors,
            "last_frame_at": self.last_frame_at,
        }


class SourceFeed:
    """Decodes one byte stream; ``feed`` returns the pushes it completed."""

    def __init__(self, hub: Hub, status: SourceStatus) -> None:
        self.hub = hub
        self.status = status
        self.stream = hub.new_stream()
        self._previous_at: dict[str, float] = {}
        # per meter: (meter time, arrival time) of its latest push that carried a time; pushes
        # without one are placed relative to it (see push_from_reading)
        self._anchors: dict[str, tuple[float, float]] = {}
        self._last_meter_id: str | None = None

    def reset(self) -> None:
        """Forget a half-received frame (after a reconnect the stream starts afresh, and a
        different meter may be on the other end)."""
        self.stream = self.hub.new_stream()
        self._last_meter_id = None

    def feed(self, chunk: bytes, received_at: float | None = None) -> list[Push]:
        received_at = time.time() if received_at is None else received_at
        out: list[Push] = []
        for event in self.stream.feed(chunk):
            if isinstance(event, Reading):
                known_id = event.meter_id or self._last_meter_id or ""
                push = push_from_reading(
                    event,
                    received_at=received_at,
                    source=self.status.name,
                    previous_at=self._previous_at.get(known_id),
                    anchor=self._anchors.get(known_id),
                    fallback_meter_id=self._last_meter_id,
                )
                self.status.frames_ok += 1
                self.status.last_frame_at = received_at
                self.status._recent.append(received_at)
                if push is None:
                    continue
                self._previous_at[push.meter_id] = push.at
                if push.clock == "meter":
                    self._anchors[push.meter_id] = (push.at, received_at)
                self._last_meter_id = push.meter_id
                out.append(push)
                self.hub.publish(push)
            elif isinstance(event, FrameRejected):
                if event.kind == "crc":
                    self.status.crc_errors += 1
                elif event.kind == "decrypt":
                    self.status.decrypt_errors += 1
                else:
                    self.status.undecodable += 1
                self.hub.reject(
                    RejectedFrame(
                        received_at, self.status.name, event.reason, event.kind, event.raw
                    )
                )
        return out


class CommitLog(Protocol):
    """Where pushes become durable (the writer): a source that must not acknowledge input
    before it is stored (MQTT QoS 1 with a persistent session) takes ``mark()`` after handing
    a message's pushes over, and acknowledges once a commit listener reports that mark."""

    def mark(self) -> int:
        """The position after everything handed over so far."""
        ...

    def on_commit(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call ``listener(position)`` in the event loop after each commit; returns the
        function that removes it."""
        ...


class Hub:
    """Fans pushes out to the sinks; holds source statuses and recent frames."""

    def __init__(
        self,
        *,
        keys: Keys | None = None,
        scalers: ScalerOverride | None = None,
        recent_frames: int = 200,
    ) -> None:
        self.keys = keys
        self.scalers = scalers
        self.push_sinks: list[PushSink] = []
        self.reject_sinks: list[RejectSink] = []
        self.sources: list[SourceStatus] = []
        self._decoder: ApduDecoder | None = None
        #: set by the service when a writer stores the pushes (see ``CommitLog``)
        self.commits: CommitLog | None = None
        # (received_at, source, meter_id, frame, ok, reason): made into JSON only when asked
        self._recent: deque[tuple[float, str, str | None, bytes, bool, str | None]] = deque(
            maxlen=recent_frames
        )

    def recent_frames(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` frames, newest first (received_at in POSIX seconds)."""
        return [
            {
                "received_at": received_at,
                "source": source,
                "meter_id": meter_id,
                "hex": frame.hex(),
                "ok": ok,
                "reason": reason,
            }
            for received_at, source, meter_id, frame, ok, reason in list(self._recent)[-limit:][
                ::-1
            ]
        ]

    def new_stream(self) -> HanStream:
        # One decoder for every stream: a fleet's readers get one MQTT topic per meter, and a
        # decoder of their own made each meter take the general path until its own template
        # compiled (14 frames each; 48 against 8 µs a frame over 1,000 meters)
        if self._decoder is None:
            self._decoder = ApduDecoder(self.keys, self.scalers)
        return HanStream(decoder=self._decoder)

    def add_source(self, name: str, kind: str) -> SourceStatus:
        status = SourceStatus(name=name, kind=kind)
        self.sources.append(status)
        return status

    def feed_for(self, status: SourceStatus) -> SourceFeed:
        return SourceFeed(self, status)

    def publish(self, push: Push) -> None:
        self._recent.append((push.received_at, push.source, push.meter_id, push.frame, True, None))
        for sink in self.push_sinks:
            sink(push)

    def reject(self, rejected: RejectedFrame) -> None:
        self._recent.append(
            (
                rejected.received_at,
                rejected.source,
                None,
                rejected.frame,
                False,
                f"{rejected.kind}: {rejected.reason}",
            )
        )
        for sink in self.reject_sinks:
            sink(rejected)
