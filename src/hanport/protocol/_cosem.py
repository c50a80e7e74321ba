"""COSEM date-time (12 bytes) and the unit codes of class 3 registers."""

from __future__ import annotations

import struct

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Final

__all__ = ["UNITS", "CosemDateTime", "clock_fields", "encode_datetime", "parse_datetime"]

#: DLMS unit enumeration values seen in HAN lists (Blue Book table 4).
UNITS: dict[int, str] = {
    0x1B: "W",
    0x1C: "VA",
    0x1D: "var",
    0x1E: "Wh",
    0x1F: "VAh",
    0x20: "varh",
    0x21: "A",
    0x23: "V",
    0x2C: "Hz",
    0xFF: "count",
}

_DT = struct.Struct(">HBBBBBBBhB")
_NOT_SPECIFIED = -0x8000


class CosemDateTime:
    """A date-time exactly as the meter sent it (local wall-clock time, no conversion)."""

    __slots__ = (
        "clock_status",
        "day",
        "deviation_min",
        "hour",
        "minute",
        "month",
        "second",
        "year",
    )

    def __init__(
        self,
        year: int,
        month: int,
        day: int,
        hour: int,
        minute: int,
        second: int,
        deviation_min: int | None,
        clock_status: int,
    ) -> None:
        self.year: Final = year
        self.month: Final = month
        self.day: Final = day
        self.hour: Final = hour
        self.minute: Final = minute
        self.second: Final = second
        #: minutes, DLMS sign (local + deviation = UTC); None when 0x8000 "not specified"
        self.deviation_min: Final = deviation_min
        self.clock_status: Final = clock_status

    def _key(self) -> tuple[int | None, ...]:
        return (
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.deviation_min,
            self.clock_status,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CosemDateTime):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"CosemDateTime({self.year!r}, {self.month!r}, {self.day!r}, {self.hour!r}, "
            f"{self.minute!r}, {self.second!r}, deviation_min={self.deviation_min!r}, "
            f"clock_status={self.clock_status!r})"
        )

    def iso(self) -> str:
        return _ISO % (self.year, self.month, self.day, self.hour, self.minute, self.second)

    def status_text(self) -> str:
        return f"0x{self.clock_status:02x}"


_ISO = "%04d-%02d-%02dT%02d:%02d:%02d"


def parse_datetime(raw: bytes) -> CosemDateTime | None:
    """Parse 12 bytes; None when they are not a plausible date-time."""
    if len(raw) != 12:
        return None
    year, month, day, _dow, hour, minute, second, _hundredths, deviation, status = _DT.unpack(raw)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    return CosemDateTime(
        year,
        month,
        day,
        hour,
        minute,
        second,
        None if deviation == _NOT_SPECIFIED else deviation,
        status,
    )


#: a clock's date, hour and minute as ISO text ("" when not a plausible date-time), by its
#: first seven bytes; its deviation and status, by its last three. A meter's clock moves by
#: seconds between pushes, so each is made once a minute instead of once a frame.
_MINUTES: dict[bytes, str] = {}
_ZONES: dict[bytes, tuple[int | None, str]] = {}
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(60))
_MAX_CLOCK_CACHE = 4096
#: longer than any clock: the prefix and suffix no clock starts or ends with
_NO_CLOCK = bytes(13)


class _LastClock:
    """The minute and zone of the clock read last, found again with one compare of its bytes
    (no slice, no hash): the next frame of a stream has the same."""

    __slots__ = ("minute", "minute_raw", "zone", "zone_raw")

    def __init__(self) -> None:
        self.minute_raw = _NO_CLOCK
        self.minute = ""
        self.zone_raw = _NO_CLOCK
        self.zone: tuple[int | None, str] = (None, "")


_LAST: Final = _LastClock()


def clock_fields(raw: bytes) -> tuple[str, int | None, str] | None:
    """``parse_datetime(raw)`` as (iso(), deviation_min, status_text()), without the object:
    the compiled templates read a clock in every frame."""
    last = _LAST
    if raw.startswith(last.minute_raw):
        minute = last.minute
    else:
        minute_raw = raw[:7]
        found = _MINUTES.get(minute_raw)
        minute = _minute_text(raw) if found is None else found
        last.minute_raw = minute_raw
        last.minute = minute
    second = raw[7]
    if not minute or second > 59:
        return None
    if raw.endswith(last.zone_raw):
        zone = last.zone
    else:
        zone_raw = raw[9:]
        found_zone = _ZONES.get(zone_raw)
        zone = _zone(raw) if found_zone is None else found_zone
        last.zone_raw = zone_raw
        last.zone = zone
    return minute + _TWO_DIGITS[second], zone[0], zone[1]


def _minute_text(raw: bytes) -> str:
    month, day, hour, minute = raw[2], raw[3], raw[5], raw[6]
    plausible = 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59
    text = ""
    if plausible:
        year = (raw[0] << 8) | raw[1]
        two = _TWO_DIGITS
        text = f"{year:04d}-{two[month]}-{two[day]}T{two[hour]}:{two[minute]}:"
    if len(_MINUTES) >= _MAX_CLOCK_CACHE:
        _MINUTES.clear()
    _MINUTES[raw[:7]] = text
    return text


def _zone(raw: bytes) -> tuple[int | None, str]:
    *_, deviation, status = _DT.unpack(raw)
    zone = (None if deviation == _NOT_SPECIFIED else deviation, f"0x{status:02x}")
    if len(_ZONES) >= _MAX_CLOCK_CACHE:
        _ZONES.clear()
    _ZONES[raw[9:]] = zone
    return zone


def encode_datetime(
    when: datetime,
    *,
    deviation_min: int | None,
    clock_status: int,
    hundredths: int = 0xFF,
    sunday_is_zero: bool = False,
) -> bytes:
    """Twelve bytes for ``when``'s wall-clock fields; the caller chooses the brand's habits."""
    dow = when.isoweekday()
    if sunday_is_zero and dow == 7:
        dow = 0
    return _DT.pack(
        when.year,
        when.month,
        when.day,
        dow,
        when.hour,
        when.minute,
        when.second,
        hundredths,
        _NOT_SPECIFIED if deviation_min is None else deviation_min,
        clock_status,
    )
