"""LLC header, data-notification (0x0F) and general-glo-ciphering (0xDB) envelopes."""

from __future__ import annotations

import struct

from ._axdr import AxdrValue, decode_data, encode_length, read_length
from ._cosem import CosemDateTime, parse_datetime
from ._crypto import decrypt, encrypt
from ._errors import DecodeError, DecryptionError

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import Final

    from ._events import Keys

__all__ = [
    "DATA_NOTIFICATION",
    "GENERAL_BLOCK_TRANSFER",
    "GLO_CIPHERING",
    "LLC_HEADER",
    "Block",
    "Ciphered",
    "Notification",
    "build_ciphered",
    "header_time_span",
    "parse_block",
    "parse_ciphered",
    "parse_notification",
    "strip_llc",
]

LLC_HEADER = b"\xe6\xe7\x00"
DATA_NOTIFICATION = 0x0F
GLO_CIPHERING = 0xDB
GENERAL_BLOCK_TRANSFER = 0xE0
_LAST_BLOCK = 0x80
_LLC_DESTINATION = 0xE6


class Notification:
    __slots__ = ("body", "invoke_id", "time")

    def __init__(self, invoke_id: int, time: CosemDateTime | None, body: AxdrValue) -> None:
        self.invoke_id: Final = invoke_id
        self.time: Final = time
        self.body: Final = body


class Ciphered:
    __slots__ = ("counter", "payload", "security", "system_title")

    def __init__(self, system_title: bytes, security: int, counter: int, payload: bytes) -> None:
        self.system_title: Final = system_title
        self.security: Final = security
        self.counter: Final = counter
        self.payload: Final = payload

    def decrypt(self, keys: Keys | None) -> bytes:
        if keys is None:
            raise DecryptionError(
                f"encrypted frame (system title {self.system_title.hex()}) and no key given"
            )
        return decrypt(keys, self.system_title, self.security, self.counter, self.payload)


class Block:
    """One block of a general block transfer."""

    __slots__ = ("data", "last", "number")

    def __init__(self, number: int, last: bool, data: bytes) -> None:
        self.number: Final = number
        self.last: Final = last
        self.data: Final = data


def parse_block(apdu: bytes) -> Block:
    """E0 | block-control | block-number (2) | block-number-ack (2) | raw data (BER length)."""
    if len(apdu) < 7 or apdu[0] != GENERAL_BLOCK_TRANSFER:
        raise DecodeError("general block transfer header is truncated")
    length, position = read_length(apdu, 6)
    if position + length != len(apdu):
        raise DecodeError("general block length does not match its frame")
    return Block(int.from_bytes(apdu[2:4], "big"), bool(apdu[1] & _LAST_BLOCK), apdu[position:])


def strip_llc(info: bytes) -> bytes:
    """The APDU inside an HDLC information field (LLC header E6 E7 00 removed when present)."""
    if len(info) >= 3 and info[0] == _LLC_DESTINATION and info[2] == 0:
        return info[3:]
    return info


def header_time_span(apdu: bytes) -> tuple[int | None, int]:
    """Where the 12 header date-time bytes of a data-notification start (None when absent),
    and where its body starts.

    The date-time comes in three encodings (docs/protocol.md §4.1): absent (00), an untagged
    octet-string (0C + 12 bytes) or a tagged one (09 0C + 12 bytes).
    """
    if len(apdu) < 6 or apdu[0] != DATA_NOTIFICATION:
        raise DecodeError("not a data-notification APDU")
    marker = apdu[5]
    if marker == 0x00:
        return None, 6
    if marker == 0x0C:
        return 6, 18
    if marker == 0x09 and len(apdu) > 6 and apdu[6] == 0x0C:
        return 7, 19
    raise DecodeError(f"unknown date-time encoding 0x{marker:02x} in the notification header")


def parse_notification(apdu: bytes) -> Notification:
    time_at, body_at = header_time_span(apdu)
    (invoke_id,) = struct.unpack_from(">I", apdu, 1)
    time = None if time_at is None else parse_datetime(apdu[time_at : time_at + 12])
    if body_at >= len(apdu):
        raise DecodeError("data-notification without a body")
    body, end = decode_data(apdu, body_at)
    if end != len(apdu):
        raise DecodeError(f"{len(apdu) - end} unexpected bytes after the notification body")
    return Notification(invoke_id, time, body)


def parse_ciphered(apdu: bytes) -> Ciphered:
    if len(apdu) < 2 or apdu[0] != GLO_CIPHERING:
        raise DecodeError("not a general-glo-ciphering APDU")
    title_length = apdu[1]
    pos = 2 + title_length
    if title_length != 8 or pos >= len(apdu):
        raise DecodeError("general-glo-ciphering with a bad system title")
    system_title = apdu[2:pos]
    length, pos = read_length(apdu, pos)
    if length < 5 or pos + length > len(apdu):
        raise DecodeError(f"ciphered length {length} does not fit the {len(apdu)}-byte APDU")
    security = apdu[pos]
    (counter,) = struct.unpack_from(">I", apdu, pos + 1)
    return Ciphered(system_title, security, counter, apdu[pos + 5 : pos + length])


def build_ciphered(
    keys: Keys, system_title: bytes, security: int, counter: int, plaintext: bytes
) -> bytes:
    payload = encrypt(keys, system_title, security, counter, plaintext)
    content = bytes((security,)) + counter.to_bytes(4, "big") + payload
    return (
        bytes((GLO_CIPHERING, len(system_title)))
        + system_title
        + encode_length(len(content))
        + content
    )
