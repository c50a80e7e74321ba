"""A-XDR: the DLMS data encoding, decoded through a tag → reader table.

Decoded values are plain Python: structures and arrays become ``list``, octet-strings ``bytes``,
visible- and utf8-strings ``str``, numbers ``int``/``float``, null-data ``None``. The encoder side
(``Axdr*`` builders) is used by the HAN encoder.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from ._errors import DecodeError

__all__ = [
    "INTEGER_FORMATS",
    "AxdrValue",
    "decode_data",
    "encode_length",
    "read_length",
]

AxdrValue = None | bool | int | float | str | bytes | list["AxdrValue"]

#: Deepest nesting accepted; real lists nest three levels, hostile input could recurse forever.
_MAX_DEPTH = 16

#: integer types by tag; the one table the decoder, encoder and templates share
INTEGER_FORMATS: dict[int, struct.Struct] = {
    0x05: struct.Struct(">i"),  # double-long
    0x06: struct.Struct(">I"),  # double-long-unsigned
    0x0F: struct.Struct(">b"),  # integer
    0x10: struct.Struct(">h"),  # long
    0x11: struct.Struct(">B"),  # unsigned
    0x12: struct.Struct(">H"),  # long-unsigned
    0x14: struct.Struct(">q"),  # long64
    0x15: struct.Struct(">Q"),  # long64-unsigned
    0x16: struct.Struct(">B"),  # enum
}
_FLOATS = (0x17, 0x18)
_FIXED: dict[int, struct.Struct] = {
    **INTEGER_FORMATS,
    0x17: struct.Struct(">f"),  # float32
    0x18: struct.Struct(">d"),  # float64
}
#: date-time, date and time as fixed-size octet strings
_FIXED_OCTETS = {0x19: 12, 0x1A: 5, 0x1B: 4}


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    """BER-style length at ``pos`` (``xx``, ``81 xx``, ``82 xx xx``); returns (length, next pos)."""
    if pos >= len(data):
        raise DecodeError("length field beyond the end of the data")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4 or pos + 1 + count > len(data):
        raise DecodeError(f"bad length field 0x{first:02x} at {pos}")
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _read_items(data: bytes, pos: int, depth: int) -> tuple[list[AxdrValue], int]:
    count, pos = read_length(data, pos)
    if count > len(data) - pos:  # every element takes at least one byte
        raise DecodeError(f"element count {count} exceeds the remaining data")
    items: list[AxdrValue] = []
    for _ in range(count):
        value, pos = _decode(data, pos, depth + 1)
        items.append(value)
    return items, pos


def _read_octets(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_length(data, pos)
    end = pos + length
    if end > len(data):
        raise DecodeError("string runs past the end of the data")
    return data[pos:end], end


def _decode(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    if depth > _MAX_DEPTH:
        raise DecodeError("data nested too deeply")
    if pos >= len(data):
        raise DecodeError("data ends inside a value")
    tag = data[pos]
    pos += 1
    fixed = _FIXED.get(tag)
    if fixed is not None:
        end = pos + fixed.size
        if end > len(data):
            raise DecodeError(f"value of type 0x{tag:02x} runs past the end of the data")
        value = fixed.unpack_from(data, pos)[0]
        if tag in _FLOATS and not math.isfinite(value):
            raise DecodeError(f"non-finite float at offset {pos - 1}")
        return value, end
    reader = _READERS.get(tag)
    if reader is None:
        raise DecodeError(f"unsupported A-XDR type 0x{tag:02x} at offset {pos - 1}")
    return reader(data, pos, depth)


def _null(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    return None, pos


def _boolean(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    if pos >= len(data):
        raise DecodeError("boolean runs past the end of the data")
    return data[pos] != 0, pos + 1


def _container(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    return _read_items(data, pos, depth)


def _octets(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    return _read_octets(data, pos)


def _text(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    raw, pos = _read_octets(data, pos)
    return raw.decode("latin-1"), pos


def _utf8(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    raw, pos = _read_octets(data, pos)
    return raw.decode("utf-8", "replace"), pos


def _bit_string(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    bits, pos = read_length(data, pos)
    end = pos + (bits + 7) // 8
    if end > len(data):
        raise DecodeError("bit-string runs past the end of the data")
    return data[pos:end], end


def _bcd(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    if pos >= len(data):
        raise DecodeError("bcd runs past the end of the data")
    return data[pos], pos + 1


def _fixed_octets(tag: int) -> Callable[[bytes, int, int], tuple[AxdrValue, int]]:
    size = _FIXED_OCTETS[tag]

    def read(data: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
        if pos + size > len(data):
            raise DecodeError("date/time runs past the end of the data")
        return data[pos : pos + size], pos + size

    return read


_READERS: dict[int, Callable[[bytes, int, int], tuple[AxdrValue, int]]] = {
    0x00: _null,
    0x01: _container,  # array
    0x02: _container,  # structure
    0x03: _boolean,
    0x04: _bit_string,
    0x09: _octets,
    0x0A: _text,  # visible-string
    0x0C: _utf8,
    0x0D: _bcd,
    **{tag: _fixed_octets(tag) for tag in _FIXED_OCTETS},
}


def decode_data(data: bytes, pos: int = 0) -> tuple[AxdrValue, int]:
    """Decode one A-XDR value at ``pos``; returns (value, position after it)."""
    return _decode(data, pos, 0)
