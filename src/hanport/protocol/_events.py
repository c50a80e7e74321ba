"""What a ``HanStream`` emits: readings, rejected frames, and the NEED_DATA sentinel."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from ._errors import InvalidKeyError, LocalProtocolError

__all__ = [
    "NEED_DATA",
    "FrameRejected",
    "Keys",
    "NeedData",
    "Reading",
    "ScalerOverride",
    "StreamStats",
    "Value",
]

Value = str | int | float | None

_EMPTY: Mapping[str, object] = MappingProxyType({})
#: registers never need more than 10⁹ either way; a larger exponent is a typing error
_MAX_EXPONENT = 9


class NeedData(enum.Enum):
    """Sentinel type: the stream needs more bytes before it can emit another event."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded push from the meter.

    ``values`` holds the decode-contract fields (``active_power_import_w``, ``meter_id`` …) in
    physical units; ``unknown`` keeps objects the list tables do not know (or whose scaler is
    not known for this variant) as raw values by OBIS code, so nothing the meter said is lost.
    """

    manufacturer: str
    list_kind: str
    values: Mapping[str, Value]
    unknown: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    frame: bytes = b""
    offset: int = 0
    frame_counter: int | None = None
    system_title: bytes | None = None

    def __post_init__(self) -> None:
        # Readings are shared between consumers (storage, MQTT, the live feed): read-only views.
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        if self.unknown:
            object.__setattr__(self, "unknown", MappingProxyType(dict(self.unknown)))

    @property
    def meter_id(self) -> str | None:
        value = self.values.get("meter_id")
        return value if isinstance(value, str) else None

    @property
    def meter_clock(self) -> str | None:
        value = self.values.get("meter_clock")
        return value if isinstance(value, str) else None

    @property
    def notification_time(self) -> str | None:
        value = self.values.get("notification_time")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, object]:
        """The JSON object of the decode contract."""
        out: dict[str, object] = {"manufacturer": self.manufacturer, "list_kind": self.list_kind}
        values = self.values  # a MappingProxyType (see __post_init__)
        # copy() is the wrapped dict's own copy: updating from the read-only view directly goes
        # key by key through the mapping protocol, several times slower
        out.update(values.copy() if isinstance(values, MappingProxyType) else values)
        if self.unknown:
            out["unknown_obis"] = dict(self.unknown)
        return out


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A frame that failed a check; it produced no reading. ``kind``: crc, truncated,
    undecodable or decrypt."""

    reason: str
    offset: int
    raw: bytes
    kind: str


@dataclass(slots=True)
class StreamStats:
    """Cumulative counters of one stream."""

    frames_ok: int = 0
    crc_errors: int = 0
    undecodable: int = 0
    decrypt_errors: int = 0
    truncated: int = 0
    bytes_skipped: int = 0
    bytes_received: int = 0

    def as_dict(self) -> dict[str, int]:
        # fields(), not __slots__: the slots are not a class attribute when compiled by mypyc
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Keys:
    """The customer's keys for encrypted meters: GUEK (encryption) and optional GAK
    (authentication), 16 bytes each."""

    guek: bytes
    gak: bytes | None = None

    def __post_init__(self) -> None:
        if not self.guek:
            raise InvalidKeyError("the encryption key (GUEK) is empty")
        if len(self.guek) != 16:
            raise InvalidKeyError("the encryption key (GUEK) must be 16 bytes (32 hex digits)")
        if self.gak is not None and len(self.gak) != 16:
            raise InvalidKeyError("the authentication key (GAK) must be 16 bytes (32 hex digits)")

    @classmethod
    def from_hex(cls, guek: str, gak: str | None = None) -> Keys:
        def parse(text: str, name: str) -> bytes:
            try:
                return bytes.fromhex(text.strip())
            except ValueError:
                raise InvalidKeyError(f"the {name} is not hexadecimal: {text!r}") from None

        return cls(
            parse(guek, "encryption key (GUEK)"),
            parse(gak, "authentication key (GAK)") if gak else None,
        )


@dataclass(frozen=True, slots=True)
class ScalerOverride:
    """Decimal exponents that replace the brand defaults for one installation.

    ``current=-3`` for a CT meter sending mA, ``energy=0`` for registers in Wh (Swedish
    Kamstrup), ``voltage=-2`` for 0.01 V firmware. ``None`` keeps what the frame or brand says.
    """

    power: int | None = None
    current: int | None = None
    voltage: int | None = None
    energy: int | None = None
    power_factor: int | None = None

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if not -_MAX_EXPONENT <= value <= _MAX_EXPONENT:
                raise LocalProtocolError(
                    f"the {name} exponent {value} is outside -{_MAX_EXPONENT}…{_MAX_EXPONENT}"
                )

    def as_dict(self) -> dict[str, int]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}
