"""CRC-16/X.25 (HDLC HCS and FCS) and CRC-16/ARC (P1 telegrams).

X.25 is the reflected form of the CCITT polynomial 0x1021. ``binascii.crc_hqx`` computes the
non-reflected form in C, so reflecting every input byte (one ``bytes.translate`` over a 256-byte
table) and the two bytes of the result gives the reflected CRC at C speed; that matters because
every frame is checked twice. The table is 256 bytes built at import, not 65,536 integers.
"""

from __future__ import annotations

from binascii import crc_hqx

__all__ = ["REFLECT8", "X25_RESIDUE", "crc16_arc", "crc16_x25", "x25_bytes"]

_REFLECT8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
#: every byte with its bits reversed: ``data.translate(REFLECT8)`` is what ``crc_hqx`` takes
REFLECT8 = _REFLECT8
#: ``crc_hqx(data.translate(REFLECT8), 0xFFFF)`` over data and its X.25 check bytes when they
#: match (0xF0B8, the reflected residue, seen through the reflected bytes): checking a frame
#: is one CRC over its bytes between the flags, no arithmetic on its FCS
X25_RESIDUE = 0x1D0F


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X.25 (poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF)."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    crc = crc_hqx(data.translate(_REFLECT8), 0xFFFF)
    return ((_REFLECT8[crc & 0xFF] << 8) | _REFLECT8[crc >> 8]) ^ 0xFFFF


def x25_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """The two check bytes as sent on the wire (least significant byte first)."""
    return crc16_x25(data).to_bytes(2, "little")


def _arc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_ARC = _arc_table()


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0, no final XOR), as DSMR P1 uses."""
    crc = 0
    table = _ARC
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
