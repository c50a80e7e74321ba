"""IEC 62056-21 / DSMR P1 text telegrams: ``/ident`` … ``!CRC``, one ``OBIS(value*unit)`` a line."""

from __future__ import annotations

import re
from decimal import Decimal

from ._errors import DecodeError
from ._events import Value
from .lists._obis import OBJECTS, Quantity

__all__ = ["NOT_P1_TEXT", "P1_IDENT", "parse_telegram"]

#: a P1 telegram is printable ASCII with CR/LF; "~" (0x7E, the HDLC flag) never occurs in one
NOT_P1_TEXT = re.compile(rb"[^\x20-\x7d\r\n]")
P1_IDENT = re.compile(rb"/[A-Za-z]{3}\d")
_LINE = re.compile(r"^(\d+)-(\d+):(\d+)\.(\d+)\.(\d+)((?:\([^)]*\))+)\s*$")
_GROUP = re.compile(r"\(([^)]*)\)")
#: a register value: digits with an optional fraction, as DSMR writes them (no exponents, no NaN)
_NUMBER = re.compile(r"^[+-]?\d{1,15}(\.\d{1,9})?$")
#: unit in the telegram → (factor to the contract unit)
_UNIT_FACTOR = {
    "kw": Decimal(1000),
    "w": Decimal(1),
    "kvar": Decimal(1000),
    "var": Decimal(1),
    "kwh": Decimal(1),
    "wh": Decimal("0.001"),
    "kvarh": Decimal(1),
    "varh": Decimal("0.001"),
    "v": Decimal(1),
    "a": Decimal(1),
    "": Decimal(1),
}
_TEXT_KEYS = {"meter_id", "meter_type", "list_version", "logical_device_name"}


def _number(text: str) -> tuple[Decimal, str]:
    value, _, unit = text.partition("*")
    if not _NUMBER.match(value):
        raise DecodeError(f"not a register value: {value[:20]!r}")
    return Decimal(value), unit.strip().lower()


def _clock(text: str, values: dict[str, Value]) -> None:
    # DSMR: YYMMDDhhmmssX (X = W winter / S summer); some meters send "YYYYMMDD hh:mm:ss".
    digits = re.sub(r"[^0-9]", "", text)
    if len(digits) == 12:
        digits = "20" + digits
    if len(digits) != 14:
        raise DecodeError(f"unreadable P1 time {text!r}")
    values["meter_clock"] = (
        f"{digits[0:4]}-{digits[4:6]}-{digits[6:8]}T{digits[8:10]}:{digits[10:12]}:{digits[12:14]}"
    )
    if text[-1:] in ("W", "S"):
        values["meter_clock_dst_flag"] = text[-1]


def parse_telegram(telegram: bytes) -> tuple[dict[str, Value], dict[str, object]]:
    """Contract fields and unknown objects of a CRC-checked telegram."""
    text = telegram.decode("ascii", "replace")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    values: dict[str, Value] = {"p1_identification": lines[0][1:].strip()}
    unknown: dict[str, object] = {}
    for line in lines[1:]:
        if not line or line.startswith("!"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise DecodeError(f"malformed P1 line {line[:40]!r}")
        a, b, c, d, e = (int(match.group(i)) for i in range(1, 6))
        groups = _GROUP.findall(match.group(6))
        code = f"{a}-{b}:{c}.{d}.{e}"
        entry = OBJECTS.get((c, d, e))
        if entry is None:
            unknown[code] = groups if len(groups) > 1 else groups[0]
            continue
        key, quantity = entry
        raw = groups[-1]
        if quantity == Quantity.CLOCK:
            _clock(raw, values)
        elif key in _TEXT_KEYS or quantity == Quantity.TEXT:
            values[key] = raw
        else:
            number, unit = _number(raw)
            factor = _UNIT_FACTOR.get(unit)
            if factor is None:
                unknown[code] = raw
                continue
            scaled = number * factor
            values[key] = (
                int(scaled)
                if scaled == scaled.to_integral_value() and quantity == Quantity.POWER
                else float(scaled)
            )
    return values, unknown
