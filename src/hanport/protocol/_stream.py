"""HanStream: bytes in any chunking → readings and rejected frames (sans-I/O, h11 style).

The stream recognises three framings by their first byte: HDLC (0x7E, Norwegian meters), wired
M-Bus long frames (0x68, Austria/Poland) and P1 text telegrams (``/``). Bytes that start none of
them are skipped and counted. A frame that fails a check becomes a ``FrameRejected`` event and the
scan resumes one byte after its start, so a good frame hidden behind a truncated one is not lost;
bytes inside a reported frame are not counted again as skipped.

Messages that span several frames (HDLC segmentation, M-Bus segments, DLMS general block
transfer) are reassembled here, with the offset of their first frame and all their wire bytes.
A message is abandoned, and reported, when a frame arrives that cannot continue it; reassembly
is capped at ``MAX_MESSAGE`` bytes, so memory stays bounded whatever the input.
"""

from __future__ import annotations

from binascii import crc_hqx
from collections import deque
from collections.abc import Iterator

from ._apdu import DATA_NOTIFICATION, GENERAL_BLOCK_TRANSFER, parse_block, strip_llc
from ._crc import REFLECT8, X25_RESIDUE, crc16_arc
from ._decode import ApduDecoder
from ._errors import DecodeError, LocalProtocolError
from ._events import (
    NEED_DATA,
    FrameRejected,
    JsonEncoder,
    Keys,
    NeedData,
    Reading,
    ScalerOverride,
    StreamStats,
)
from ._hdlc import FLAG, HdlcHeader, parse_header
from .lists import manufacturer_from_id, manufacturer_from_source

__all__ = ["MAX_MESSAGE", "HanStream", "decode_frame"]

_MBUS_START = 0x68
_MBUS_STOP = 0x16
_MBUS_FIN = 0x10
_MBUS_MAX_SEGMENTS = 16  # four bits of segment number
_P1_START = 0x2F  # "/"
_P1_MAX = 16384
_LLC_PREFIXES = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")
_LLC_DESTINATION = 0xE6
_COMPACT_AT = 8192
#: bytes after the opening flag that cover format, addresses, control and HCS of common frames
_HEADER_KEY = 8
_MAX_HEADERS = 64
#: largest reassembled message (segments or blocks); real pushes are below 1 KiB
MAX_MESSAGE = 65536

Event = Reading | FrameRejected


class _Message:
    """A message being reassembled from several frames."""

    __slots__ = ("frames", "offset", "parts", "size", "source")

    def __init__(self, offset: int, source: bytes = b"") -> None:
        self.offset = offset
        self.parts: list[bytes] = []
        self.frames: list[bytes] = []
        self.size = 0
        self.source = source

    def add(self, part: bytes, frame: bytes) -> None:
        self.parts.append(part)
        self.frames.append(frame)
        self.size += len(part)


class HanStream:
    """Feed bytes with :meth:`receive_data`, take events with :meth:`next_event`.

    ``keys`` decrypt general-glo-ciphering frames; ``scalers`` override the brand defaults for
    one installation. No input bytes make it raise: whatever cannot be decoded is reported as a
    ``FrameRejected`` event or counted as skipped.
    """

    def __init__(
        self,
        *,
        keys: Keys | None = None,
        scalers: ScalerOverride | None = None,
        decoder: ApduDecoder | None = None,
    ) -> None:
        if decoder is not None and (keys is not None or scalers is not None):
            raise ValueError("give keys and scalers to the shared ApduDecoder, not the stream")
        self.stats = StreamStats()
        # many streams may share one decoder: its compiled layouts serve every meter of a model
        self._decoder = decoder if decoder is not None else ApduDecoder(keys, scalers)
        self._buffer = bytearray()
        #: the buffer with every byte's bits reversed, what the HDLC FCS check reads
        self._reflected = bytearray()
        self._start = 0
        self._dropped = 0  # bytes removed from the front of the buffer so far
        self._eof = False
        #: validated headers by their first bytes, with the manufacturer their source names
        self._headers: dict[bytes, tuple[HdlcHeader, str | None]] = {}
        self._closing_flag = -1  # stream offset of the last good HDLC frame's closing flag
        self._reported_until = 0  # stream offset up to which bytes belong to a reported frame
        self._events: deque[Event] = deque()
        self._segmented: _Message | None = None
        self._mbus: _Message | None = None
        self._blocks: _Message | None = None

    # -- public API ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append bytes; ``b""`` means the input has ended."""
        if self._eof and data:
            raise LocalProtocolError("receive_data() after the end of input (b'')")
        if data:
            self._buffer += data
            self._reflected += bytes(data).translate(REFLECT8)
            self.stats.bytes_received += len(data)
        else:
            self._eof = True

    def next_event(self) -> Event | NeedData:
        """The next reading or rejected frame, or ``NEED_DATA``."""
        while not self._events:
            if not self._step():
                if self._eof:
                    self._abandon_pending("the input ended")
                    if self._events:
                        break
                self._compact()
                return NEED_DATA
        return self._events.popleft()

    def events(self) -> Iterator[Event]:
        """Every event that the bytes received so far make complete."""
        while True:
            event = self.next_event()
            if isinstance(event, NeedData):
                return
            yield event

    def feed(self, data: bytes) -> list[Event]:
        """``receive_data(data)`` and the events it completes."""
        self.receive_data(data)
        return list(self.events())

    def json_texts(
        self, encode: JsonEncoder | None = None
    ) -> tuple[list[str], list[FrameRejected]]:
        """What :meth:`events` gives, as ``hanport decode`` writes it: the JSON text of every
        reading (``Reading.to_json_text(encode)``) in order, and the rejected frames.

        A frame of a layout a compiled template knows goes straight from the buffer to its
        text, with no ``Reading`` or frame copy made; every other frame as in ``events()``."""
        texts: list[str] = []
        rejected: list[FrameRejected] = []
        while True:
            if not self._events and self._segmented is None:
                self._json_lane(texts)
            event = self.next_event()
            if isinstance(event, NeedData):
                return texts, rejected
            if isinstance(event, FrameRejected):
                rejected.append(event)
            else:
                texts.append(event.to_json_text(encode))

    def _json_lane(self, texts: list[str]) -> None:
        """Whole HDLC frames with a known header whose APDU a template decodes, one after
        the other, to their JSON text; stops (before it) at the first frame that needs more:
        ``next_event`` takes that one, with the same checks and results as ever."""
        buffer = self._buffer
        reflected = self._reflected
        size = len(buffer)
        decoder = self._decoder
        headers = self._headers
        start = self._start
        frames = 0
        closing = -1
        key = b""
        header: HdlcHeader | None = None
        hint: str | None = None
        try:
            while start + 2 < size and buffer[start] == FLAG:
                if buffer[start + 1] == FLAG:  # a doubled flag, as in _hdlc
                    start += 1
                    continue
                if header is None or not buffer.startswith(key, start + 1):
                    key = bytes(buffer[start + 1 : start + 1 + _HEADER_KEY])
                    known = headers.get(key)
                    if known is None or known[0].segmented:
                        break
                    header, hint = known
                end = start + header.length + 2
                if end > size or buffer[end - 1] != FLAG:
                    break
                at = start + header.info_start
                if at + 3 <= end - 3 and buffer[at] == _LLC_DESTINATION and buffer[at + 2] == 0:
                    at += 3
                if at >= end - 3 or buffer[at] != DATA_NOTIFICATION:
                    break
                text = decoder.json_text(buffer, at, end - 3 - at, hint)
                if text is None or crc_hqx(reflected[start + 1 : end - 1], 0xFFFF) != X25_RESIDUE:
                    break
                texts.append(text)
                frames += 1
                closing = end - 1
                start = end if size > end and buffer[end] == FLAG else end - 1
        except Exception:  # bytes must never crash the caller: next_event reports this frame
            pass
        # the frames decoded so far count; the one that stopped the lane is left as it was
        if frames:
            self._closing_flag = self._dropped + closing
            self.stats.frames_ok += frames
        self._start = start

    # -- bookkeeping --------------------------------------------------------------------------

    def _compact(self) -> None:
        if self._start:
            del self._buffer[: self._start]
            del self._reflected[: self._start]
            self._dropped += self._start
            self._start = 0

    def _advance(self, count: int) -> None:
        """Move past bytes that start no frame; those outside reported frames are garbage."""
        first = self._dropped + self._start
        self.stats.bytes_skipped += max(0, first + count - max(first, self._reported_until))
        self._start += count
        if self._start > _COMPACT_AT:
            self._compact()

    def _reject(self, kind: str, reason: str, start: int, end: int) -> None:
        """Report the frame at ``start:end`` and resume the scan one byte after its start."""
        self._report(kind, reason, self._dropped + start, bytes(self._buffer[start:end]))
        self._reported_until = max(self._reported_until, self._dropped + end)
        self._start = start + 1

    def _report(self, kind: str, reason: str, offset: int, raw: bytes) -> None:
        if kind == "crc":
            self.stats.crc_errors += 1
        elif kind == "decrypt":
            self.stats.decrypt_errors += 1
        elif kind == "truncated":
            self.stats.truncated += 1
        else:
            self.stats.undecodable += 1
        self._events.append(FrameRejected(reason, offset, raw, kind))

    def _abandon(self, message: _Message, reason: str) -> None:
        self._report("truncated", reason, message.offset, b"".join(message.frames))

    def _abandon_pending(self, why: str) -> None:
        for name in ("_segmented", "_mbus", "_blocks"):
            message = getattr(self, name)
            if message is not None:
                setattr(self, name, None)
                self._abandon(message, f"incomplete multi-frame message: {why}")

    # -- scanning -----------------------------------------------------------------------------

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
            return self._mbus_frame(start)
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
        self._advance((min(candidates) if candidates else len(buffer)) - start)
        return True

    def _partial(self, start: int, what: str) -> bool:
        """A frame that is not complete yet: wait, or at end of input report it as truncated."""
        if not self._eof:
            return False
        self._reject(
            "truncated", f"{what} truncated at the end of the input", start, len(self._buffer)
        )
        return True

    # -- HDLC ---------------------------------------------------------------------------------

    def _hdlc(self, start: int) -> bool:
        buffer = self._buffer
        if len(buffer) > start + 1 and buffer[start + 1] == FLAG:
            # A doubled flag (one frame's closing flag, the next one's opening flag) or
            # inter-frame fill, also as the input's last bytes: not garbage, no frame starts here.
            self._start += 1
            return True
        if len(buffer) > start + 2:
            second = buffer[start + 1]
            # A meter repeats the same header (length, addresses, control, HCS) for a list, so
            # a header already validated is recognised by its bytes instead of being checked
            # again: the common case, one dict lookup.
            end = start + (((second & 0x07) << 8) | buffer[start + 2]) + 2
            if end <= len(buffer) and buffer[end - 1] == FLAG:
                frame = bytes(buffer[start:end])
                known = self._headers.get(frame[1 : 1 + _HEADER_KEY])
                if known is not None:
                    self._hdlc_frame(known, frame, start)
                    return True
        return self._hdlc_new_header(start)

    def _hdlc_new_header(self, start: int) -> bool:
        """The frame at ``start`` when its header has not been seen (or is incomplete)."""
        buffer = self._buffer
        header = parse_header(buffer, start)
        if header is None:
            if not self._eof:
                return False
            header = False
        if not isinstance(header, HdlcHeader):
            # The previous frame's closing flag opens no frame either; anything else is garbage.
            if self._dropped + start == self._closing_flag:
                self._start += 1
            else:
                self._advance(1)
            return True
        known = (header, manufacturer_from_source(header.source))
        if header.info_start <= _HEADER_KEY + 1 and len(self._headers) < _MAX_HEADERS:
            self._headers[bytes(buffer[start + 1 : start + 1 + _HEADER_KEY])] = known
        end = start + header.length + 2
        if len(buffer) < end:
            return self._partial(start, "HDLC frame")
        if buffer[end - 1] != FLAG:
            self._reject(
                "truncated", "no closing flag where the length field ends the frame", start, end
            )
            return True
        self._hdlc_frame(known, bytes(buffer[start:end]), start)
        return True

    def _hdlc_frame(self, known: tuple[HdlcHeader, str | None], frame: bytes, start: int) -> None:
        """A frame with a valid header, from its opening to its closing flag."""
        header, hint = known
        end = start + len(frame)
        # The FCS checked as the CRC over the frame and its FCS: the X.25 residue
        if crc_hqx(self._reflected[start + 1 : end - 1], 0xFFFF) != X25_RESIDUE:
            self._reject("crc", "frame check sequence (FCS) mismatch", start, end)
            return
        offset = self._dropped + start
        self._closing_flag = offset + len(frame) - 1
        # One flag may close a frame and open the next: resume on the closing flag, or after
        # it when the next frame has its own.
        buffer = self._buffer
        self._start = end if len(buffer) > end and buffer[end] == FLAG else end - 1
        self.stats.frames_ok += 1
        at = header.info_start
        if header.segmented or self._segmented is not None:
            self._hdlc_information(header, hint, frame[at : header.length - 1], frame, offset)
            return
        # The common frame, one whole message: its APDU after the LLC header (E6 E7 00)
        if at + 3 <= len(frame) - 3 and frame[at] == _LLC_DESTINATION and frame[at + 2] == 0:
            at += 3
        apdu = frame[at:-3]
        if not apdu or apdu[0] == GENERAL_BLOCK_TRANSFER:
            self._apdu(apdu, frame, offset, hint)
            return
        try:
            self._events.append(self._decoder.decode(apdu, frame, offset, hint))
        except DecodeError as error:
            self._report(error.kind, str(error), offset, frame)
        except Exception as failure:  # bytes must never crash the caller
            self._report(
                "undecodable",
                f"decoder failure {type(failure).__name__}: {failure}",
                offset,
                frame,
            )

    def _hdlc_information(
        self, header: HdlcHeader, hint: str | None, info: bytes, frame: bytes, offset: int
    ) -> None:
        pending = self._segmented
        # A segment continues the pending message only from the same sender and without an
        # LLC header of its own (only a message's first segment carries one).
        continues = (
            pending is not None
            and pending.source == header.source
            and not info.startswith(_LLC_PREFIXES)
        )
        if pending is not None and not continues:
            self._segmented = None
            self._abandon(pending, "segmented HDLC message interrupted by another frame")
            pending = None
        if header.segmented:
            if pending is None:
                pending = self._segmented = _Message(offset, source=header.source)
            pending.add(info, frame)
            if pending.size > MAX_MESSAGE:
                self._segmented = None
                self._abandon(pending, f"segmented HDLC message longer than {MAX_MESSAGE} bytes")
            return
        if pending is not None:
            self._segmented = None
            pending.add(info, frame)
            info, frame, offset = b"".join(pending.parts), b"".join(pending.frames), pending.offset
        self._apdu(strip_llc(info), frame, offset, hint)

    # -- wired M-Bus --------------------------------------------------------------------------

    def _mbus_frame(self, start: int) -> bool:
        buffer = self._buffer
        if len(buffer) - start < 4:
            if self._eof:
                self._advance(len(buffer) - start)
                return True
            return False
        length = buffer[start + 1]
        if buffer[start + 2] != length or buffer[start + 3] != _MBUS_START or length < 5:
            self._advance(1)
            return True
        end = start + length + 6
        if len(buffer) < end:
            return self._partial(start, "M-Bus frame")
        body = buffer[start + 4 : start + 4 + length]
        if buffer[end - 1] != _MBUS_STOP or sum(body) & 0xFF != buffer[end - 2]:
            self._reject("crc", "M-Bus checksum or stop byte wrong", start, end)
            return True
        frame = bytes(buffer[start:end])
        offset = self._dropped + start
        self._start = end
        self.stats.frames_ok += 1
        control_info = body[2]
        segment = control_info & 0x0F
        pending = self._mbus
        if segment == 0:
            if pending is not None:
                self._abandon(pending, "M-Bus message without its last segment")
            pending = self._mbus = _Message(offset)
        elif pending is None or segment != len(pending.parts):
            if pending is not None:
                self._mbus = None
                self._abandon(pending, f"M-Bus segment {segment} out of sequence")
            self._report(
                "truncated", f"M-Bus segment {segment} without its first segment", offset, frame
            )
            return True
        pending.add(bytes(body[5:]), frame)  # data after C, A, CI, STSAP, DTSAP
        if control_info & _MBUS_FIN:
            self._mbus = None
            self._apdu(b"".join(pending.parts), b"".join(pending.frames), pending.offset, None)
        elif len(pending.parts) >= _MBUS_MAX_SEGMENTS or pending.size > MAX_MESSAGE:
            self._mbus = None
            self._abandon(pending, "M-Bus message with too many segments")
        return True

    # -- P1 text ------------------------------------------------------------------------------

    def _p1(self, start: int) -> bool:
        buffer = self._buffer
        if len(buffer) - start < 5:
            if self._eof:
                self._advance(len(buffer) - start)
                return True
            return False
        from . import _p1  # on the first "/": P1 parsing (re, decimal) costs start-up

        if not _p1.P1_IDENT.match(buffer, start):
            self._advance(1)
            return True
        # A telegram is text: the first byte that is not text ends the candidate, so binary
        # frames after a stray "/ABC1" are neither delayed nor swallowed.
        limit = min(len(buffer), start + _P1_MAX)
        not_text = _p1.NOT_P1_TEXT.search(buffer, start, limit)
        text_end = not_text.start() if not_text else limit
        bang = buffer.find(b"!", start, text_end)
        if bang < 0 or bang + 5 > text_end:
            if not_text is not None:
                # No telegram can end in this run of text: move on to the next byte that could
                # start a frame in it (a "/" or an M-Bus 0x68), or past it.
                following = [
                    i
                    for i in (
                        buffer.find(b"/", start + 1, text_end),
                        buffer.find(b"\x68", start + 1, text_end),
                    )
                    if i >= 0
                ]
                self._advance((min(following) if following else text_end) - start)
                return True
            if text_end - start >= _P1_MAX:
                self._advance(1)
                return True
            if not self._eof:
                return False
            # At the end of the input: one report for the unfinished text, not one per "/".
            self._report(
                "truncated",
                "P1 telegram truncated at the end of the input",
                self._dropped + start,
                bytes(buffer[start:text_end]),
            )
            self._reported_until = max(self._reported_until, self._dropped + text_end)
            self._start = text_end
            return True
        end = bang + 5
        while end < text_end and buffer[end] in b"\r\n":
            end += 1
        try:
            expected = int(bytes(buffer[bang + 1 : bang + 5]), 16)
        except ValueError:
            expected = -1
        if crc16_arc(buffer[start : bang + 1]) != expected:
            self._reject("crc", "P1 telegram CRC mismatch", start, end)
            return True
        telegram = bytes(buffer[start:end])
        offset = self._dropped + start
        self._start = end
        self.stats.frames_ok += 1
        try:
            values, unknown = _p1.parse_telegram(telegram)
        except DecodeError as error:
            self._report("undecodable", str(error), offset, telegram)
            return True
        manufacturer = manufacturer_from_id(str(values.get("p1_identification", ""))) or "unknown"
        self._events.append(Reading(manufacturer, "p1", values, unknown, telegram, offset))
        return True

    # -- APDU ---------------------------------------------------------------------------------

    def _apdu(self, apdu: bytes, frame: bytes, offset: int, hint: str | None) -> None:
        if apdu and apdu[0] == GENERAL_BLOCK_TRANSFER:
            self._block(apdu, frame, offset, hint)
            return
        try:
            self._events.append(self._decoder.decode(apdu, frame=frame, offset=offset, hint=hint))
        except DecodeError as error:
            self._report(error.kind, str(error), offset, frame)
        except Exception as failure:  # bytes must never crash the caller
            self._report(
                "undecodable",
                f"decoder failure {type(failure).__name__}: {failure}",
                offset,
                frame,
            )

    def _block(self, apdu: bytes, frame: bytes, offset: int, hint: str | None) -> None:
        """One block of a DLMS general block transfer (L&G E450 splits a push this way)."""
        try:
            block = parse_block(apdu)
        except DecodeError as error:
            self._report(error.kind, str(error), offset, frame)
            return
        pending = self._blocks
        if block.number == 1:
            if pending is not None:
                self._abandon(pending, "general block transfer restarted before its last block")
            pending = self._blocks = _Message(offset)
        elif pending is None or block.number != len(pending.parts) + 1:
            if pending is not None:
                self._blocks = None
                self._abandon(
                    pending, f"general block transfer: block {block.number} out of sequence"
                )
            self._report(
                "truncated", f"general block {block.number} without its first block", offset, frame
            )
            return
        pending.add(block.data, frame)
        if pending.size > MAX_MESSAGE:
            self._blocks = None
            self._abandon(pending, f"general block transfer longer than {MAX_MESSAGE} bytes")
        elif block.last:
            self._blocks = None
            whole = b"".join(pending.parts)
            frames = b"".join(pending.frames)
            if whole[:1] == bytes((GENERAL_BLOCK_TRANSFER,)):
                self._report(
                    "undecodable", "general block transfer inside another", pending.offset, frames
                )
            else:
                self._apdu(whole, frames, pending.offset, hint)


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
