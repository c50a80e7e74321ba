"""LLC header, data-notification (0x0F) and general-glo-ciphering (0xDB) envelopes."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ._axdr import AxdrValue, decode_data, encode_length, read_length
from ._cosem import CosemDateTime, parse_datetime
from ._crypto import decrypt, encrypt
from ._errors import DecodeError, DecryptionError
from ._events import Keys

__all__ = [
    "DATA_NOTIFICATION",
    "GLO_CIPHERING",
    "LLC_HEADER",
    "Ciphered",
    "Notification",
    "build_ciphered",
    "parse_ciphered",
    "parse_notification",
    "strip_llc",
]

LLC_HEADER = b"\xe6\xe7\x00"
DATA_NOTIFICATION = 0x0F
GLO_CIPHERING = 0xDB
_LLC_DESTINATION = 0xE6


@dataclass(frozen=True, slots=True)
class Notification:
    invoke_id: int
    time: CosemDateTime | None
    body: AxdrValue


@dataclass(frozen=True, slots=True)
class Ciphered:
    system_title: bytes
    security: int
    counter: int
    payload: bytes

    def decrypt(self, keys: Keys | None) -> bytes:
        if keys is None:
            raise DecryptionError(
                f"encrypted frame (system title {self.system_title.hex()}) and no key given"
            )
        return decrypt(keys, self.system_title, self.security, self.counter, self.payload)


def strip_llc(info: bytes) -> bytes:
    """The APDU inside an HDLC information field (LLC header E6 E7 00 removed when present)."""
    if len(info) >= 3 and info[0] == _LLC_DESTINATION and info[2] == 0:
        return info[3:]
    return info


def parse_notification(apdu: bytes) -> Notification:
    if len(apdu) < 6 or apdu[0] != DATA_NOTIFICATION:
        raise DecodeError("not a data-notification APDU")
    (invoke_id,) = struct.unpack_from(">I", apdu, 1)
    pos = 5
    marker = apdu[pos]
    time = None
    # The header date-time comes in three encodings (protocol note §4.1): absent (00),
    # an untagged octet-string (0C + 12 bytes) or a tagged one (09 0C + 12 bytes).
    if marker == 0x00:
        pos += 1
    elif marker == 0x0C:
        time, pos = parse_datetime(apdu[pos + 1 : pos + 13]), pos + 13
    elif marker == 0x09 and pos + 1 < len(apdu) and apdu[pos + 1] == 0x0C:
        time, pos = parse_datetime(apdu[pos + 2 : pos + 14]), pos + 14
    else:
        raise DecodeError(f"unknown date-time encoding 0x{marker:02x} in the notification header")
    if pos >= len(apdu):
        raise DecodeError("data-notification without a body")
    body, end = decode_data(apdu, pos)
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
