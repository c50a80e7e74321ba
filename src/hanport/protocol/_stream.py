"""HanStream: bytes in any chunking → readings and rejected frames (sans-I/O, h11 style).

The stream recognises three framings by their first byte: HDLC (0x7E, Norwegian meters), wired
M-Bus long frames (0x68, Austria/Poland) and P1 text telegrams (``/``). Bytes that start none of
them are skipped and counted. A frame that fails a check becomes a ``FrameRejected`` event and the
scan resumes one byte after its start, so a good frame that follows a truncated one is not lost.
The buffer never holds more than one maximal frame beyond what is being examined.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ._apdu import strip_llc
from ._crc import crc16_arc, crc16_x25
from ._decode import ApduDecoder
from ._errors import DecodeError, LocalProtocolError
from ._events import NEED_DATA, FrameRejected, Keys, NeedData, Reading, ScalerOverride, StreamStats
from ._hdlc import FLAG, HdlcHeader, parse_header
from ._p1 import parse_telegram
from .lists import manufacturer_from_id

__all__ = ["HanStream", "decode_frame"]

_MBUS_START = 0x68
_MBUS_STOP = 0x16
_MBUS_FIN = 0x10
_P1_START = 0x2F  # "/"
_P1_MAX = 16384
_COMPACT_AT = 8192
#: bytes after the opening flag that cover format, addresses, control and HCS of common frames
_HEADER_KEY = 8
_MAX_HEADERS = 64

#: HDLC source address → manufacturer, for lists that do not name themselves (protocol note §2)
_MANUFACTURER_BY_SOURCE = {
    b"\x21": "Kamstrup",
    b"\x08\x83": "Aidon",
    b"\x02\x01": "Kaifa",
    b"\x00\x01": "Kaifa",
    b"\x02\x23": "Iskra",
}

Event = Reading | FrameRejected


class HanStream:
    """Feed bytes with :meth:`receive_data`, take events with :meth:`next_event`.

    ``keys`` decrypt general-glo-ciphering frames; ``scalers`` override the brand defaults for
    one installation. The stream never raises for any input bytes.
    """

    def __init__(self, *, keys: Keys | None = None, scalers: ScalerOverride | None = None) -> None:
        self.stats = StreamStats()
        self._decoder = ApduDecoder(keys, scalers)
        self._buffer = bytearray()
        self._start = 0
        self._dropped = 0  # bytes removed from the front of the buffer so far
        self._eof = False
        self._headers: dict[bytes, HdlcHeader] = {}
        self._closing_flag = -1  # stream offset of the last good frame's closing flag
        self._events: deque[Event] = deque()
        self._hdlc_segments: list[bytes] = []
        self._hdlc_segments_at = 0
        self._mbus_segments: list[bytes] = []
        self._mbus_frames: list[bytes] = []
        self._mbus_at = 0

    # -- public API ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append bytes; ``b""`` means the input has ended."""
        if self._eof and data:
            raise LocalProtocolError("receive_data() after the end of input (b'')")
        if data:
            self._buffer += data
            self.stats.bytes_received += len(data)
        else:
            self._eof = True

    def next_event(self) -> Event | NeedData:
        """The next reading or rejected frame, or ``NEED_DATA``."""
        while not self._events:
            if not self._step():
                self._compact()
                return NEED_DATA
        return self._events.popleft()

    def events(self) -> Iterator[Event]:
        """Every event that the bytes received so far make complete."""
        while True:
            event = self.next_event()
            if event is NEED_DATA:
                return
            assert not isinstance(event, NeedData)
            yield event

    def feed(self, data: bytes) -> list[Event]:
        """``receive_data(data)`` and the events it completes."""
        self.receive_data(data)
        return list(self.events())

    # -- scanning -----------------------------------------------------------------------------

    def _compact(self) -> None:
        if self._start:
            del self._buffer[: self._start]
            self._dropped += self._start
            self._start = 0

    def _skip(self, count: int) -> None:
        self.stats.bytes_skipped += count
        self._start += count
        if self._start > _COMPACT_AT:
            self._compact()

    def _reject(self, kind: str, reason: str, start: int, end: int) -> None:
        self._rejected(kind, reason, self._dropped + start, bytes(self._buffer[start:end]))

    def _rejected(self, kind: str, reason: str, offset: int, raw: bytes) -> None:
        if kind == "crc":
            self.stats.crc_errors += 1
        elif kind == "decrypt":
            self.stats.decrypt_errors += 1
        elif kind == "truncated":
            self.stats.truncated += 1
        else:
            self.stats.undecodable += 1
        self._events.append(FrameRejected(reason, offset, raw, kind))

    def _step(self) -> bool:
        """Examine the buffer once; False when nothing more can happen without more bytes."""
        buffer = self._buffer
        start = self._start
        if start >= len(buffer):
            return False
        first = buffer[start]
        if first == FLAG:
            return self._hdlc(start)
        if first == _MBUS_START:
            return self._mbus(start)
        if first == _P1_START:
            return self._p1(start)
        candidates = [
            i
            for i in (
                buffer.find(b"\x7e", start),
                buffer.find(b"\x68", start),
                buffer.find(b"/", start),
            )
            if i >= 0
        ]
        self._skip((min(candidates) if candidates else len(buffer)) - start)
        return True

    def _truncated_at_end(self, start: int, what: str) -> bool:
        """At end of input a partial frame is rejected; otherwise wait for more bytes."""
        if not self._eof:
            return False
        self._reject(
            "truncated", f"{what} truncated at the end of the input", start, len(self._buffer)
        )
        self._start = len(self._buffer)
        return True

    # -- HDLC ---------------------------------------------------------------------------------

    def _hdlc(self, start: int) -> bool:
        buffer = self._buffer
        # A meter repeats the same header (length, addresses, control, HCS) for a list, so a
        # header already validated is recognised by its bytes instead of being checked again.
        known = bytes(buffer[start + 1 : start + 1 + _HEADER_KEY])
        header: HdlcHeader | bool | None = self._headers.get(known)
        if header is None:
            header = parse_header(buffer, start)
            if (
                isinstance(header, HdlcHeader)
                and header.info_start <= _HEADER_KEY + 1
                and len(self._headers) < _MAX_HEADERS
            ):
                self._headers[known] = header
        if header is None:
            if self._eof:
                self._skip(len(buffer) - start)
                return True
            return False
        if header is False:
            # A lone flag (the previous frame's closing flag, frames separated by two flags,
            # inter-frame fill) is not garbage.
            if self._dropped + start == self._closing_flag or (
                len(buffer) > start + 1 and buffer[start + 1] == FLAG
            ):
                self._start += 1
            else:
                self._skip(1)
            return True
        assert not isinstance(header, bool)
        length = header.length
        end = start + length + 2
        if len(buffer) < end:
            return self._truncated_at_end(start, "HDLC frame")
        if buffer[end - 1] != FLAG:
            self._reject(
                "truncated",
                "no closing flag where the length field ends the frame",
                start,
                min(end, len(buffer)),
            )
            self._start = start + 1
            return True
        fcs = buffer[end - 3] | (buffer[end - 2] << 8)
        if crc16_x25(buffer[start + 1 : end - 3]) != fcs:
            self._reject("crc", "frame check sequence (FCS) mismatch", start, end)
            self._start = start + 1
            return True
        frame = bytes(buffer[start:end])
        # One flag may close a frame and open the next; keep it when a frame follows directly.
        self._start = end - 1 if len(buffer) > end and buffer[end] & 0xF0 == 0xA0 else end
        self._closing_flag = self._dropped + end - 1
        self.stats.frames_ok += 1
        info = frame[header.info_start : length - 1]
        if header.segmented:
            if not self._hdlc_segments:
                self._hdlc_segments_at = self._dropped + start
            self._hdlc_segments.append(info)
            return True
        offset = self._dropped + start
        if self._hdlc_segments:
            info = b"".join(self._hdlc_segments) + info
            offset = self._hdlc_segments_at
            self._hdlc_segments = []
        self._decode(strip_llc(info), frame, offset, _MANUFACTURER_BY_SOURCE.get(header.source))
        return True

    # -- wired M-Bus --------------------------------------------------------------------------

    def _mbus(self, start: int) -> bool:
        buffer = self._buffer
        if len(buffer) - start < 4:
            if self._eof:
                self._skip(len(buffer) - start)
                return True
            return False
        length = buffer[start + 1]
        if buffer[start + 2] != length or buffer[start + 3] != _MBUS_START or length < 5:
            self._skip(1)
            return True
        end = start + length + 6
        if len(buffer) < end:
            return self._truncated_at_end(start, "M-Bus frame")
        body = buffer[start + 4 : start + 4 + length]
        if buffer[end - 1] != _MBUS_STOP or sum(body) & 0xFF != buffer[end - 2]:
            self._reject("crc", "M-Bus checksum or stop byte wrong", start, end)
            self._start = start + 1
            return True
        frame = bytes(buffer[start:end])
        self._start = end
        self.stats.frames_ok += 1
        control_info = body[2]
        if control_info & 0x0F == 0:
            self._mbus_segments, self._mbus_frames, self._mbus_at = [], [], self._dropped + start
        self._mbus_segments.append(bytes(body[5:]))  # after C, A, CI, STSAP, DTSAP
        self._mbus_frames.append(frame)
        if control_info & _MBUS_FIN:
            apdu = b"".join(self._mbus_segments)
            frames = b"".join(self._mbus_frames)
            self._mbus_segments, self._mbus_frames = [], []
            self._decode(apdu, frames, self._mbus_at, None)
        return True

    # -- P1 text ------------------------------------------------------------------------------

    def _p1(self, start: int) -> bool:
        buffer = self._buffer
        ident = buffer[start + 1 : start + 5]
        if len(ident) < 4:
            if self._eof:
                self._skip(len(buffer) - start)
                return True
            return False
        if not (
            bytes(ident[:3]).isalpha() and bytes(ident[:3]).isupper() and 0x30 <= ident[3] <= 0x39
        ):
            self._skip(1)
            return True
        bang = buffer.find(b"!", start, start + _P1_MAX)
        if bang < 0 or len(buffer) < bang + 5:
            if len(buffer) - start >= _P1_MAX:
                self._reject("truncated", "P1 telegram without an end", start, start + _P1_MAX)
                self._start = start + 1
                return True
            return self._truncated_at_end(start, "P1 telegram")
        end = bang + 5
        while end < len(buffer) and buffer[end] in b"\r\n":
            end += 1
        telegram = bytes(buffer[start:end])
        try:
            expected = int(bytes(buffer[bang + 1 : bang + 5]), 16)
        except ValueError:
            expected = -1
        if crc16_arc(buffer[start : bang + 1]) != expected:
            self._reject("crc", "P1 telegram CRC mismatch", start, end)
            self._start = start + 1
            return True
        self._start = end
        self.stats.frames_ok += 1
        try:
            values, unknown = parse_telegram(telegram)
        except DecodeError as error:
            self._reject("undecodable", str(error), start, end)
            return True
        identification = str(values.get("p1_identification", ""))
        manufacturer = manufacturer_from_id(identification) or "unknown"
        self._events.append(
            Reading(manufacturer, "p1", values, unknown, telegram, self._dropped + start)
        )
        return True

    # -- APDU ---------------------------------------------------------------------------------

    def _decode(self, apdu: bytes, frame: bytes, offset: int, hint: str | None) -> None:
        try:
            reading = self._decoder.decode(apdu, frame=frame, offset=offset, hint=hint)
        except DecodeError as error:
            self._rejected(error.kind, str(error), offset, frame)
            return
        if reading is not None:
            self._events.append(reading)


def decode_frame(
    data: bytes, *, keys: Keys | None = None, scalers: ScalerOverride | None = None
) -> Reading:
    """Decode bytes that hold exactly one message (an HDLC frame, M-Bus frames or a P1 telegram)."""
    stream = HanStream(keys=keys, scalers=scalers)
    stream.receive_data(data)
    stream.receive_data(b"")
    for event in stream.events():
        if isinstance(event, Reading):
            return event
        raise DecodeError(event.reason)
    raise DecodeError("no frame found in the data")
