"""Frames for a meter's pushes: the protocol core's encoder, made cheap enough for a year.

Every frame is what :class:`hanport.protocol.HanEncoder` produces. Encoding each of the 3.2 million
list-1 frames of a simulated year through it would take too long, so :class:`FrameWriter` encodes
the first push of each list in each hour with the encoder, learns from those bytes where the
minute, the second and each measured value sit, and for the rest of the hour only writes those
fields into a copy and recomputes the frame check sequence. It trusts the template only after it
has reproduced a second encoder frame byte for byte (values and time both changed); otherwise —
and always for encrypted frames and the hourly lists — it calls the encoder for every push.

Only this module knows the wire layout, and only enough to find fields: HDLC header, LLC, the
data-notification header and an A-XDR walk of the body.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable
from datetime import datetime

from hanport.emulator.load import OSLO
from hanport.emulator.meter import HOURLY, MeterModel, Push

__all__ = ["FrameWriter", "crc16_x25"]

_FLAG = b"\x7e"
_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))

# OBIS C.D.E of the measured values -> index in Sample.
_OBIS_FIELDS: dict[tuple[int, int, int], int] = {
    (1, 7, 0): 0,
    (2, 7, 0): 1,
    (3, 7, 0): 2,
    (4, 7, 0): 3,
    (31, 7, 0): 4,
    (51, 7, 0): 5,
    (71, 7, 0): 6,
    (32, 7, 0): 7,
    (52, 7, 0): 8,
    (72, 7, 0): 9,
}
# Kaifa sends bare values without OBIS codes: their order gives their meaning.
_POSITIONAL_3P = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
_POSITIONAL_1P = (0, 1, 2, 3, 4, 7)

_INTEGER_FORMATS: dict[int, struct.Struct] = {
    0x05: struct.Struct(">i"),
    0x06: struct.Struct(">I"),
    0x0F: struct.Struct(">b"),
    0x10: struct.Struct(">h"),
    0x11: struct.Struct(">B"),
    0x12: struct.Struct(">H"),
    0x14: struct.Struct(">q"),
    0x15: struct.Struct(">Q"),
}


def crc16_x25(data: bytes | bytearray) -> int:
    """CRC-16/X.25 (HDLC HCS/FCS) computed in C.

    binascii's CRC-CCITT is the unreflected twin of X.25: reflecting every input byte and the
    result turns one into the other (init 0xFFFF reflects onto itself).
    """
    crc = binascii.crc_hqx(data.translate(_REVERSED_BITS), 0xFFFF)
    reflected = (_REVERSED_BITS[crc & 0xFF] << 8) | _REVERSED_BITS[crc >> 8]
    return reflected ^ 0xFFFF


class TemplateError(ValueError):
    """An encoder frame this module cannot find its fields in."""


class _Template:
    """An encoder frame with known places for the minute, the second and each value.

    ``render`` is one ``struct.pack`` over the whole frame content (constant runs as ``Ns``
    arguments), generated once per template: a year needs millions of renders, and one C call
    is several times faster than patching a copy field by field.
    """

    def __init__(
        self,
        content: bytes,
        minute_at: int | None,
        second_at: int | None,
        fields: tuple[tuple[int, struct.Struct, int], ...],
    ) -> None:
        self.content = content
        edits: list[tuple[int, int, str, str]] = []  # offset, size, format char, expression
        if minute_at is not None and second_at is not None:
            edits += [(minute_at, 1, "B", "at.minute"), (second_at, 1, "B", "at.second")]
        edits += [(offset, fmt.size, fmt.format[-1], f"sample[{i}]") for offset, fmt, i in fields]
        edits.sort()
        layout, arguments, constants, pos = ">", [], {}, 0
        for number, (offset, size, char, expression) in enumerate(edits):
            if offset > pos:
                constants[f"c{number}"] = content[pos:offset]
                layout += f"{offset - pos}s"
                arguments.append(f"c{number}")
            layout += char
            arguments.append(expression)
            pos = offset + size
        if pos < len(content):
            constants["tail"] = content[pos:]
            layout += f"{len(content) - pos}s"
            arguments.append("tail")
        namespace: dict[str, object] = {"_pack": struct.Struct(layout).pack, **constants}
        exec(f"def pack(at, sample):\n    return _pack({', '.join(arguments)})", namespace)
        self._pack = namespace["pack"]

    def render(self, push: Push) -> bytes:
        content: bytes = self._pack(push.at, push.sample)  # type: ignore[operator]
        return b"".join((_FLAG, content, crc16_x25(content).to_bytes(2, "little"), _FLAG))


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def _learn_template(frame: bytes, phases: int) -> _Template:
    """Find the time and value fields in an encoder frame (positions relative to the content)."""
    if len(frame) < 12 or frame[0] != 0x7E or frame[-1] != 0x7E:
        raise TemplateError("not a single HDLC frame")
    content = frame[1:-3]
    pos = 2  # frame format field
    for _ in range(2):  # destination and source address: the last byte has its LSB set
        while not content[pos] & 1:
            pos += 1
        pos += 1
    pos += 1 + 2  # control, HCS
    if content[pos : pos + 3] != b"\xe6\xe7\x00":
        raise TemplateError("no LLC header")
    pos += 3
    if content[pos] != 0x0F:
        raise TemplateError("not a plain data-notification (encrypted?)")
    pos += 5  # tag + long-invoke-id-and-priority
    minute_at = second_at = None
    if content[pos] == 0x09:  # tagged octet-string (Kaifa, old Kamstrup firmware)
        pos += 1
    if content[pos] == 0x0C:
        minute_at, second_at = pos + 1 + 6, pos + 1 + 7  # year(2) month day dow hour
        pos += 13
    elif content[pos] == 0x00:
        pos += 1
    else:
        raise TemplateError(f"unexpected date-time field {content[pos]:#04x}")

    fields: list[tuple[int, struct.Struct, int]] = []
    bare: list[tuple[int, struct.Struct]] = []
    last_obis: tuple[int, int, int] | None = None
    saw_obis = False
    pending = 1
    while pending:
        tag = content[pos]
        pending -= 1
        if tag in (0x01, 0x02):
            count, pos = _read_length(content, pos + 1)
            pending += count
        elif tag in (0x09, 0x0A):
            size, pos = _read_length(content, pos + 1)
            if tag == 0x09 and size == 6:
                last_obis = (content[pos + 2], content[pos + 3], content[pos + 4])
                saw_obis = True
            pos += size
        elif tag == 0x00:
            pos += 1
        elif tag in _INTEGER_FORMATS:
            fmt = _INTEGER_FORMATS[tag]
            if last_obis is not None:
                index = _OBIS_FIELDS.get(last_obis)
                if index is not None:
                    fields.append((pos + 1, fmt, index))
                last_obis = None  # a scaler/unit after the value belongs to nobody
            elif not saw_obis:
                bare.append((pos + 1, fmt))
            pos += 1 + fmt.size
        elif tag == 0x16:  # enum (unit)
            pos += 2
        else:
            raise TemplateError(f"unexpected A-XDR tag {tag:#04x} at {pos}")
    if pos != len(content):
        raise TemplateError("trailing bytes after the notification body")
    if not saw_obis:
        order = _POSITIONAL_3P if phases == 3 else _POSITIONAL_1P
        if len(bare) not in (1, len(order)):
            raise TemplateError(f"{len(bare)} bare values: not a list this module knows")
        fields = [(offset, fmt, index) for (offset, fmt), index in zip(bare, order, strict=False)]
    return _Template(bytes(content), minute_at, second_at, tuple(fields))


class FrameWriter:
    """Turns a meter's pushes into wire bytes with ``encode(list_kind, values, when)``.

    ``encode`` is :meth:`hanport.protocol.HanEncoder.encode`; pass ``fast=False`` to call it
    for every push.
    """

    def __init__(
        self,
        model: MeterModel,
        encode: Callable[[str, dict[str, float | int], datetime], bytes],
        *,
        fast: bool = True,
    ) -> None:
        self.model = model
        self._encode = encode
        self.fast = fast
        self._hour: datetime | None = None
        # list kind -> template (verified), or the first push's template awaiting a check
        self._templates: dict[str, _Template] = {}
        self._unverified: dict[str, _Template] = {}
        self._untemplatable: set[str] = set()
        self.encoder_calls = 0

    def encode(self, push: Push) -> bytes:
        """The encoder's frame for ``push`` (always the slow path)."""
        self.encoder_calls += 1
        return self._encode(push.list_kind, self.model.values(push), push.at.astimezone(OSLO))

    def frame(self, push: Push) -> bytes:
        kind = push.list_kind
        if not self.fast or kind == HOURLY or kind in self._untemplatable:
            return self.encode(push)
        hour = push.hour or push.at.replace(minute=0, second=0, microsecond=0)
        if hour != self._hour:
            # Date, hour and clock deviation change only between hours: learn afresh.
            self._hour = hour
            self._templates.clear()
            self._unverified.clear()
        template = self._templates.get(kind)
        if template is not None:
            return template.render(push)
        frame = self.encode(push)
        candidate = self._unverified.pop(kind, None)
        if candidate is not None:
            if candidate.render(push) == frame:
                self._templates[kind] = candidate
            else:
                self._untemplatable.add(kind)  # e.g. a counter in the frame: encode every push
            return frame
        try:
            self._unverified[kind] = _learn_template(frame, self.model.phases)
        except TemplateError:
            self._untemplatable.add(kind)
        return frame
