"""Frames for a meter's pushes, made by the protocol core's encoder.

The emulator knows nothing of the wire: :class:`hanport.protocol.HanEncoder` owns the HDLC
framing, the CRC, A-XDR, the list layouts and encryption. :class:`FrameWriter` only turns a
:class:`~hanport.emulator.meter.Push` into the encoder's arguments (the decode-contract values of
the push and its time in the meter's local time zone).
"""

from __future__ import annotations

from hanport.emulator.load import OSLO
from hanport.emulator.meter import MeterModel, Push
from hanport.protocol import HanEncoder

__all__ = ["FrameWriter"]


class FrameWriter:
    """One meter's frames: ``frame(push)`` is the encoder's frame for what the model pushed."""

    def __init__(self, model: MeterModel, encoder: HanEncoder) -> None:
        self.model = model
        self.encoder = encoder
        # Bound once: ``frame`` runs for each of a year's 3.2 million pushes.
        self._encode = encoder.encode
        self._values = model.values

    def frame(self, push: Push) -> bytes:
        # The meter stamps local time; the encoder takes the DST flag from the zone.
        return self._encode(push.list_kind, self._values(push), push.at.astimezone(OSLO))
