"""HanEncoder: contract values → the exact frame a Kamstrup, Aidon or Kaifa meter sends.

The inverse of the decoder for the Norwegian lists, byte for byte as the meters do it: HDLC
addresses and control field, invoke id, the header date-time encoding, the body style, 1-phase
null padding (Kamstrup) and omitted objects (Aidon), and how each brand stamps its clock.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ._apdu import LLC_HEADER, build_ciphered, build_notification
from ._axdr import encode_length
from ._cosem import encode_datetime
from ._errors import LocalProtocolError
from ._events import Keys
from ._hdlc import build_frame
from .lists import Row, aidon, kaifa, kamstrup

__all__ = ["HanEncoder"]

_PACK = {
    0x06: struct.Struct(">I"),
    0x05: struct.Struct(">i"),
    0x10: struct.Struct(">h"),
    0x12: struct.Struct(">H"),
    0x0F: struct.Struct(">b"),
    0x16: struct.Struct(">B"),
}
_OCTET_STRING, _VISIBLE_STRING = 0x09, 0x0A
_STRUCTURE, _ARRAY = 0x02, 0x01
#: security control: authenticated encryption, suite 0 (Danish/Swiss Kamstrup)
_SECURITY = 0x30


@dataclass(frozen=True, slots=True)
class _Brand:
    destination: bytes
    source: bytes
    control: int
    invoke_id: int
    #: header date-time: "untagged" (0C …), "tagged" (09 0C …) or None (00)
    header_time: str | None
    #: clock deviation written (None = 0x8000 not specified)
    deviation_min: int | None
    #: status byte written when daylight-saving time is in force, and when not
    status_dst: int
    status_standard: int
    sunday_is_zero: bool


_BRANDS = {
    "Kamstrup": _Brand(b"\x2b", b"\x21", 0x13, 0x00000000, "untagged", None, 0x80, 0x00, False),
    "Aidon": _Brand(b"\x41", b"\x08\x83", 0x13, 0x40000000, None, 0, 0x00, 0x00, True),
    "Kaifa": _Brand(b"\x01", b"\x02\x01", 0x10, 0x40000000, "tagged", None, 0x00, 0x00, False),
}
# Encrypted Kamstrup (Danish/Swiss) frames use other HDLC addresses (protocol note §2).
_KAMSTRUP_ENCRYPTED = (b"\x41", b"\x03")


def _text(tag: int, value: str) -> bytes:
    raw = value.encode("latin-1")
    return bytes((tag,)) + encode_length(len(raw)) + raw


def _raw_number(row: Row, value: object) -> int:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise LocalProtocolError(f"{row.key} must be a number, not {value!r}")
    raw = round(value * 10**-row.exponent) if row.exponent < 0 else round(value / 10**row.exponent)
    packer = _PACK[row.tag]
    try:
        return struct.unpack(packer.format, packer.pack(raw))[0]  # type: ignore[no-any-return]
    except struct.error:
        raise LocalProtocolError(f"{row.key} = {value} does not fit the meter's register") from None


class HanEncoder:
    """Frames of one meter. ``encode(list_kind, values, when)`` returns one complete HDLC frame.

    ``values`` uses the decode-contract keys in physical units; they are quantised to the
    register resolution of the brand. ``when`` is the aware local time of the push; the meter
    clock in hourly lists is ``values["meter_clock"]`` (an aware datetime) or ``when``.
    With ``keys`` the APDU is sent as general-glo-ciphering (authenticated encryption).
    """

    def __init__(
        self,
        manufacturer: str,
        *,
        meter_id: str,
        meter_type: str,
        phases: int = 3,
        three_wire: bool = False,
        keys: Keys | None = None,
        system_title: bytes | None = None,
        frame_counter: int = 0,
    ) -> None:
        if manufacturer not in _BRANDS:
            raise LocalProtocolError(
                f"no encoder for {manufacturer!r}; choose one of {', '.join(_BRANDS)}"
            )
        if phases not in (1, 3):
            raise LocalProtocolError("phases must be 1 or 3")
        if keys is not None and keys.gak is None:
            raise LocalProtocolError(
                "encrypted frames are authenticated: give the GAK as well as the GUEK"
            )
        self.manufacturer = manufacturer
        self.meter_id = meter_id
        self.meter_type = meter_type
        self.phases = phases
        self.three_wire = three_wire
        self.keys = keys
        # A system title starts with the manufacturer's FLAG id (protocol note §6).
        flag_id = {"Kamstrup": b"KAM", "Aidon": b"ADN", "Kaifa": b"KFM"}[manufacturer]
        self.system_title = system_title or (flag_id + meter_id.encode()[-5:].rjust(5, b"0"))
        if len(self.system_title) != 8:
            raise LocalProtocolError("the system title must be 8 bytes")
        self.frame_counter = frame_counter
        self._brand = _BRANDS[manufacturer]

    def _clock(self, when: datetime) -> bytes:
        brand = self._brand
        dst = bool(when.dst())
        return encode_datetime(
            when,
            deviation_min=brand.deviation_min,
            clock_status=brand.status_dst if dst else brand.status_standard,
            sunday_is_zero=brand.sunday_is_zero,
        )

    def _value(self, row: Row, values: Mapping[str, object], when: datetime) -> object:
        if row.key == "meter_id":
            return self.meter_id
        if row.key == "meter_type":
            return self.meter_type
        if row.key == "list_version":
            return {"Aidon": aidon.LIST_ID, "Kaifa": kaifa.LIST_ID}.get(
                self.manufacturer, kamstrup.LIST_ID
            )
        if row.key == "meter_clock":
            clock = values.get("meter_clock", when)
            if not isinstance(clock, datetime):
                raise LocalProtocolError("meter_clock must be an aware datetime")
            return clock
        if self.manufacturer == "Kaifa" and self.three_wire and row.key == "voltage_l2_v":
            return 0  # 3-wire Kaifa meters keep UL2 in the list and send 0
        if row.key not in values:
            raise LocalProtocolError(f"the {self.manufacturer} list needs a value for {row.key}")
        return values[row.key]

    def _encode_value(self, row: Row, value: object) -> bytes:
        if isinstance(value, datetime):
            return bytes((_OCTET_STRING, 12)) + self._clock(value)
        if isinstance(value, str):
            return _text(row.tag, value)
        return bytes((row.tag,)) + _PACK[row.tag].pack(_raw_number(row, value))

    def body(self, list_kind: str, values: Mapping[str, object], when: datetime) -> bytes:
        """The A-XDR notification body of one list."""
        parts: list[bytes] = []
        if self.manufacturer == "Kamstrup":
            rows = kamstrup.layout(list_kind, self.phases)
            parts.append(_text(_VISIBLE_STRING, kamstrup.LIST_ID))
            for row in rows:
                if row is None:
                    parts.append(b"\x00\x00")  # null OBIS + null value, as 1-phase meters send
                else:
                    parts.append(
                        bytes((_OCTET_STRING, 6))
                        + row.obis
                        + self._encode_value(row, self._value(row, values, when))
                    )
            return bytes((_STRUCTURE,)) + encode_length(1 + 2 * len(rows)) + b"".join(parts)
        if self.manufacturer == "Aidon":
            aidon_rows = aidon.layout(list_kind, self.phases, self.three_wire)
            for row in aidon_rows:
                encoded = (
                    bytes((_OCTET_STRING, 6))
                    + row.obis
                    + self._encode_value(row, self._value(row, values, when))
                )
                if row.unit is None:
                    parts.append(b"\x02\x02" + encoded)
                else:
                    scaler = row.exponent if row.scaler is None else row.scaler
                    parts.append(
                        b"\x02\x03"
                        + encoded
                        + bytes((0x02, 0x02, 0x0F, scaler & 0xFF, 0x16, row.unit))
                    )
            return bytes((_ARRAY,)) + encode_length(len(aidon_rows)) + b"".join(parts)
        kaifa_rows = kaifa.layout(list_kind, self.phases)
        for row in kaifa_rows:
            parts.append(self._encode_value(row, self._value(row, values, when)))
        return bytes((_STRUCTURE,)) + encode_length(len(kaifa_rows)) + b"".join(parts)

    def encode(self, list_kind: str, values: Mapping[str, object], when: datetime) -> bytes:
        """One complete HDLC frame for the push at ``when``."""
        if when.tzinfo is None:
            raise LocalProtocolError("when must be an aware datetime (the meter's local time zone)")
        brand = self._brand
        try:
            body = self.body(list_kind, values, when)
        except ValueError as error:
            raise LocalProtocolError(str(error)) from None
        header_time = None if brand.header_time is None else self._clock(when)
        apdu = build_notification(
            brand.invoke_id, header_time, body, tagged_time=brand.header_time == "tagged"
        )
        destination, source = brand.destination, brand.source
        if self.keys is not None:
            self.frame_counter = (self.frame_counter + 1) & 0xFFFFFFFF
            apdu = build_ciphered(self.keys, self.system_title, _SECURITY, self.frame_counter, apdu)
            if self.manufacturer == "Kamstrup":
                destination, source = _KAMSTRUP_ENCRYPTED
        return build_frame(destination, source, brand.control, LLC_HEADER + apdu)
