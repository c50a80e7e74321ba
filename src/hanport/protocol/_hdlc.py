"""HDLC frame format type 3 (IEC 62056-46): header parsing, checks and building.

The frame boundary comes from the 11-bit length field, never from searching for a closing flag:
meters do not byte-stuff, and 0x7E/0x7D occur inside real frames (docs/protocol.md §2).
"""

from __future__ import annotations

from ._crc import crc16_x25

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import Final

__all__ = ["FLAG", "HdlcHeader", "frame_prefix", "parse_header"]

FLAG = 0x7E
_MAX_ADDRESS = 4


class HdlcHeader:
    __slots__ = ("control", "destination", "info_start", "length", "segmented", "source")

    def __init__(
        self,
        length: int,
        segmented: bool,
        destination: bytes,
        source: bytes,
        control: int,
        info_start: int,
    ) -> None:
        #: bytes between the flags
        self.length: Final = length
        self.segmented: Final = segmented
        self.destination: Final = destination
        self.source: Final = source
        self.control: Final = control
        #: offset (from the opening flag) of the first information byte; == length - 1 when
        #: empty
        self.info_start: Final = info_start


def _address_end(data: bytes | bytearray, pos: int, limit: int) -> int:
    """Position after a variable-length address: the byte with LSB 1 ends it."""
    for index in range(pos, min(pos + _MAX_ADDRESS, limit)):
        if data[index] & 1:
            return index + 1
    return -1


def parse_header(data: bytes | bytearray, start: int) -> HdlcHeader | bool | None:
    """Header of the frame whose opening flag is at ``start``.

    Returns the header, ``None`` when more bytes are needed, or ``False`` when the bytes there
    cannot be a valid frame start (wrong format type, bad addresses or HCS).
    """
    available = len(data) - start
    if available < 3:
        return None
    first = data[start + 1]
    if first & 0xF0 != 0xA0:
        return False
    length = ((first & 0x07) << 8) | data[start + 2]
    if length < 7:
        return False
    limit = start + 1 + length
    destination_end = _address_end(data, start + 3, min(limit, len(data)))
    if destination_end < 0:
        return None if len(data) < start + 3 + _MAX_ADDRESS else False
    source_end = _address_end(data, destination_end, min(limit, len(data)))
    if source_end < 0:
        return None if len(data) < destination_end + _MAX_ADDRESS else False
    control_at = source_end
    header_end = control_at + 1  # position of HCS (or of FCS when there is no information)
    if header_end + 2 > start + length + 1:
        return False
    if len(data) < header_end + 2:
        return None
    info_start = header_end + 2 - start
    if info_start >= length - 1:
        info_start = length - 1  # no information field: the header check is the FCS
    elif crc16_x25(data[start + 1 : header_end]) != int.from_bytes(
        data[header_end : header_end + 2], "little"
    ):
        return False
    return HdlcHeader(
        length=length,
        segmented=bool(first & 0x08),
        destination=bytes(data[start + 3 : destination_end]),
        source=bytes(data[destination_end:source_end]),
        control=data[control_at],
        info_start=info_start,
    )


def frame_prefix(
    destination: bytes, source: bytes, control: int, info_length: int, *, segmented: bool = False
) -> bytes:
    """Frame format, addresses, control and HCS of a frame with ``info_length`` information
    bytes; the frame is ``7E + prefix + info + FCS(prefix + info) + 7E``."""
    length = 2 + len(destination) + len(source) + 1 + 2 + info_length + 2
    if length > 0x7FF:
        raise ValueError(f"HDLC frame of {length} bytes exceeds the 11-bit length field")
    fmt = (0xA000 | (0x0800 if segmented else 0) | length).to_bytes(2, "big")
    header = fmt + destination + source + bytes((control,))
    return header + crc16_x25(header).to_bytes(2, "little")
