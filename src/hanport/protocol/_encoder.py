"""HanEncoder: contract values → the exact frame a Kamstrup, Aidon or Kaifa meter sends.

The inverse of the decoder for the Norwegian lists, byte for byte as the meters do it: HDLC
addresses and control field, invoke id, the header date-time encoding, the body style, 1-phase
null padding (Kamstrup) and omitted objects (Aidon), and how each brand stamps its clock.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache

from ._apdu import DATA_NOTIFICATION, LLC_HEADER, build_ciphered
from ._axdr import INTEGER_FORMATS, encode_length
from ._cosem import encode_datetime
from ._crc import x25_bytes
from ._errors import LocalProtocolError
from ._events import Keys
from ._hdlc import frame_prefix
from .lists import Row, aidon, kaifa, kamstrup

__all__ = ["HanEncoder", "register_step"]

_PACK = INTEGER_FORMATS
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


# Norwegian Kamstrup firmware leaves the clock status at 0x00 in summer time too (the 2017
# captures); only Finnish/Danish firmware sets the DST bit 0x80.
_BRANDS = {
    "Kamstrup": _Brand(b"\x2b", b"\x21", 0x13, 0x00000000, "untagged", None, 0x00, 0x00, False),
    "Aidon": _Brand(b"\x41", b"\x08\x83", 0x13, 0x40000000, None, 0, 0x00, 0x00, True),
    "Kaifa": _Brand(b"\x01", b"\x02\x01", 0x10, 0x40000000, "tagged", None, 0x00, 0x00, False),
}
# Encrypted Kamstrup frames are the Danish/Swiss firmware: other HDLC addresses
# (docs/protocol.md §2) and the DST bit in the clock status (kamstrup-dk-gh517).
_DANISH_KAMSTRUP = replace(
    _BRANDS["Kamstrup"], destination=b"\x41", source=b"\x03", status_dst=0x80
)


def _text(tag: int, value: str) -> bytes:
    raw = value.encode("latin-1")
    return bytes((tag,)) + encode_length(len(raw)) + raw


@cache
def register_step(manufacturer: str, key: str) -> float:
    """The smallest step of ``key`` (a decode-contract key) in that brand's Norwegian lists:
    0.01 for a Kamstrup current in A, 0.01 for its energy in kWh (10 Wh), 1 for a power in W."""
    layouts = {
        "Kamstrup": kamstrup.layout("hourly-with-energy", 3),
        "Aidon": aidon.layout("hourly-with-energy", 3),
        "Kaifa": kaifa.layout("hourly-with-energy", 3),
    }
    if manufacturer not in layouts:
        raise LocalProtocolError(
            f"no lists for {manufacturer!r}; choose one of {', '.join(layouts)}"
        )
    for row in layouts[manufacturer]:
        if row is not None and row.key == key:
            return 10.0**row.exponent
    raise LocalProtocolError(f"the {manufacturer} lists carry no {key}")


#: kinds of the variable parts of a list: a register, the meter clock, the header time
_NUMBER, _CLOCK, _HEADER_TIME = "number", "clock", "header_time"


@dataclass(frozen=True, slots=True)
class _Plan:
    """A list layout compiled once: one ``struct`` over the plaintext APDU whose fixed parts
    (tags, OBIS codes, identity strings, scalers) are prefilled and whose slots take the values."""

    layout: struct.Struct
    arguments: tuple[object, ...]
    #: (argument index, contract key, scale, True to multiply / False to divide, struct code)
    numbers: tuple[tuple[int, str, int, bool, str], ...]
    clocks: tuple[int, ...]
    header_times: tuple[int, ...]


class _PlanBuilder:
    def __init__(self) -> None:
        self.codes: list[str] = []
        self.arguments: list[object] = []
        self.slots: list[tuple[int, Row | None, str]] = []
        self._run = bytearray()  # fixed bytes since the last slot: one struct field

    def fixed(self, data: bytes) -> None:
        self._run += data

    def _flush(self) -> None:
        if self._run:
            self.codes.append(f"{len(self._run)}s")
            self.arguments.append(bytes(self._run))
            self._run.clear()

    def slot(self, kind: str, row: Row | None) -> None:
        self._flush()
        self.slots.append((len(self.arguments), row, kind))
        self.codes.append(_PACK[row.tag].format[1:] if kind == _NUMBER and row else "12s")
        self.arguments.append(None)

    def build(self) -> _Plan:
        self._flush()
        numbers = tuple(
            (index, row.key, 10 ** abs(row.exponent), row.exponent < 0, _PACK[row.tag].format)
            for index, row, kind in self.slots
            if kind == _NUMBER and row is not None
        )
        return _Plan(
            struct.Struct(">" + "".join(self.codes)),
            tuple(self.arguments),
            numbers,
            tuple(index for index, _, kind in self.slots if kind == _CLOCK),
            tuple(index for index, _, kind in self.slots if kind == _HEADER_TIME),
        )


class HanEncoder:
    """Frames of one meter. ``encode(list_kind, values, when)`` returns one complete HDLC frame.

    ``values`` uses the decode-contract keys in physical units; they are quantised to the
    register resolution of the brand. ``when`` is the aware local time of the push; the meter
    clock in hourly lists is ``values["meter_clock"]`` (an aware datetime) or ``when``.
    With ``keys`` the APDU is sent as general-glo-ciphering (authenticated encryption).
    Each list layout is compiled on first use, so a push costs one ``struct.pack`` and a CRC.
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
        # A system title starts with the manufacturer's FLAG id (docs/protocol.md §6).
        flag_id = {"Kamstrup": b"KAM", "Aidon": b"ADN", "Kaifa": b"KFM"}[manufacturer]
        self.system_title = system_title or (flag_id + meter_id.encode()[-5:].rjust(5, b"0"))
        if len(self.system_title) != 8:
            raise LocalProtocolError("the system title must be 8 bytes")
        self.frame_counter = frame_counter
        self._brand = (
            _DANISH_KAMSTRUP
            if keys is not None and manufacturer == "Kamstrup"
            else _BRANDS[manufacturer]
        )
        self._plans: dict[str, _Plan] = {}
        self._frame_prefixes: dict[int, bytes] = {}

    def _clock(self, when: datetime) -> bytes:
        brand = self._brand
        dst = bool(when.dst())
        return encode_datetime(
            when,
            deviation_min=brand.deviation_min,
            clock_status=brand.status_dst if dst else brand.status_standard,
            sunday_is_zero=brand.sunday_is_zero,
        )

    def _identity(self, row: Row) -> str | None:
        if row.key == "meter_id":
            return self.meter_id
        if row.key == "meter_type":
            return self.meter_type
        if row.key == "list_version":
            return {"Aidon": aidon.LIST_ID, "Kaifa": kaifa.LIST_ID}.get(
                self.manufacturer, kamstrup.LIST_ID
            )
        return None

    def _value_part(self, plan: _PlanBuilder, row: Row) -> None:
        identity = self._identity(row)
        if identity is not None:
            plan.fixed(_text(row.tag, identity))
        elif row.key == "meter_clock":
            plan.fixed(bytes((_OCTET_STRING, 12)))
            plan.slot(_CLOCK, row)
        elif self.manufacturer == "Kaifa" and self.three_wire and row.key == "voltage_l2_v":
            plan.fixed(bytes((row.tag,)) + _PACK[row.tag].pack(0))  # 3-wire Kaifa sends UL2 = 0
        else:
            plan.fixed(bytes((row.tag,)))
            plan.slot(_NUMBER, row)

    def _compile(self, list_kind: str) -> _Plan:
        brand = self._brand
        plan = _PlanBuilder()
        plan.fixed(bytes((DATA_NOTIFICATION,)) + brand.invoke_id.to_bytes(4, "big"))
        if brand.header_time is None:
            plan.fixed(b"\x00")
        else:
            plan.fixed(b"\x09\x0c" if brand.header_time == "tagged" else b"\x0c")
            plan.slot(_HEADER_TIME, None)
        if self.manufacturer == "Kamstrup":
            rows = kamstrup.layout(list_kind, self.phases)
            plan.fixed(bytes((_STRUCTURE,)) + encode_length(1 + 2 * len(rows)))
            plan.fixed(_text(_VISIBLE_STRING, kamstrup.LIST_ID))
            for row in rows:
                if row is None:
                    plan.fixed(b"\x00\x00")  # null OBIS + null value, as 1-phase meters send
                else:
                    plan.fixed(bytes((_OCTET_STRING, 6)) + row.obis)
                    self._value_part(plan, row)
        elif self.manufacturer == "Aidon":
            aidon_rows = aidon.layout(list_kind, self.phases, self.three_wire)
            plan.fixed(bytes((_ARRAY,)) + encode_length(len(aidon_rows)))
            for row in aidon_rows:
                plan.fixed(
                    (b"\x02\x02" if row.unit is None else b"\x02\x03") + b"\x09\x06" + row.obis
                )
                self._value_part(plan, row)
                if row.unit is not None:
                    scaler = row.exponent if row.scaler is None else row.scaler
                    plan.fixed(bytes((0x02, 0x02, 0x0F, scaler & 0xFF, 0x16, row.unit)))
        else:
            kaifa_rows = kaifa.layout(list_kind, self.phases)
            plan.fixed(bytes((_STRUCTURE,)) + encode_length(len(kaifa_rows)))
            for row in kaifa_rows:
                self._value_part(plan, row)
        return plan.build()

    def apdu(self, list_kind: str, values: Mapping[str, object], when: datetime) -> bytes:
        """The plaintext data-notification APDU of one push."""
        plan = self._plans.get(list_kind)
        if plan is None:
            try:
                plan = self._plans[list_kind] = self._compile(list_kind)
            except ValueError as error:
                raise LocalProtocolError(str(error)) from None
        arguments = list(plan.arguments)
        try:
            for index, key, scale, multiply, _ in plan.numbers:
                value = values[key]
                arguments[index] = round(value * scale) if multiply else round(value / scale)  # type: ignore[operator]
        except KeyError as missing:
            raise LocalProtocolError(
                f"the {self.manufacturer} {list_kind} list needs a value for {missing.args[0]}"
            ) from None
        except TypeError:
            raise LocalProtocolError(self._bad_value(plan, values)) from None
        if plan.clocks:
            clock = values.get("meter_clock", when)
            if not isinstance(clock, datetime) or clock.tzinfo is None:
                raise LocalProtocolError("meter_clock must be an aware datetime")
            for index in plan.clocks:
                arguments[index] = self._clock(clock)
        for index in plan.header_times:
            arguments[index] = self._clock(when)
        try:
            return plan.layout.pack(*arguments)
        except struct.error:
            raise LocalProtocolError(self._bad_value(plan, values)) from None

    @staticmethod
    def _bad_value(plan: _Plan, values: Mapping[str, object]) -> str:
        """Which value cannot be written (only asked once packing has failed)."""
        for _, key, scale, multiply, code in plan.numbers:
            value = values.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool):
                return f"{key} must be a number, not {value!r}"
            try:
                struct.pack(code, round(value * scale) if multiply else round(value / scale))
            except struct.error:
                return f"{key} = {value} does not fit the meter's register"
        return "a value does not fit the meter's list"

    def encode(self, list_kind: str, values: Mapping[str, object], when: datetime) -> bytes:
        """One complete HDLC frame for the push at ``when``."""
        if when.tzinfo is None:
            raise LocalProtocolError("when must be an aware datetime (the meter's local time zone)")
        apdu = self.apdu(list_kind, values, when)
        if self.keys is not None:
            self.frame_counter = (self.frame_counter + 1) & 0xFFFFFFFF
            apdu = build_ciphered(self.keys, self.system_title, _SECURITY, self.frame_counter, apdu)
        info = LLC_HEADER + apdu
        prefix = self._frame_prefixes.get(len(info))
        if prefix is None:
            prefix = self._frame_prefixes[len(info)] = frame_prefix(
                self._brand.destination, self._brand.source, self._brand.control, len(info)
            )
        body = prefix + info
        return b"\x7e" + body + x25_bytes(body) + b"\x7e"
