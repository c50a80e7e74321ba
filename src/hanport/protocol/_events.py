"""What a ``HanStream`` emits: readings, rejected frames, and the NEED_DATA sentinel.

Plain classes with ``__slots__``, not dataclasses: every reading is one of these, and
``dataclasses`` (with ``inspect``) was the largest part of ``hanport decode``'s start-up. The
event classes are read-only (properties over private slots); mypyc compiles them as native
classes.
"""

from __future__ import annotations

from _json import encode_basestring
from collections.abc import Callable, Iterable, Mapping
from math import isfinite
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
    "compact_json",
]

Value = str | int | float | None
JsonEncoder = Callable[[dict[str, object]], str]

_EMPTY: Mapping[str, object] = MappingProxyType({})
#: registers never need more than 10⁹ either way; a larger exponent is a typing error
_MAX_EXPONENT = 9


class NeedData:
    """Sentinel type: the stream needs more bytes before it can emit another event. Its one
    instance is ``NEED_DATA`` (a plain class, not an enum: no ``enum`` import at start-up)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()

_COMPACT: list[JsonEncoder] = []


def compact_json(document: dict[str, object]) -> str:
    """``document`` as compact JSON text, as ``json`` writes it with ``ensure_ascii=False``
    and ``separators=(",", ":")``: a flat object of texts, whole numbers, finite floats and
    nulls (a reading's) written here, anything else by the standard library, imported on first
    use (``json`` brings ``re`` and ``enum``: milliseconds of start-up)."""
    parts = []
    # keys as objects: compiled code would check them as str and raise where json writes one
    items: Iterable[tuple[object, object]] = document.items()
    for key, value in items:
        if isinstance(value, str):
            text = encode_basestring(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            text = int.__repr__(value)
        elif isinstance(value, float) and isfinite(value):
            text = float.__repr__(value)
        elif value is None:
            text = "null"
        else:
            return _standard_json(document)
        if not isinstance(key, str):
            return _standard_json(document)
        parts.append(encode_basestring(key) + ":" + text)
    return "{" + ",".join(parts) + "}"


def _standard_json(document: dict[str, object]) -> str:
    if not _COMPACT:
        import json

        _COMPACT.append(json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode)
    return _COMPACT[0](document)


class Reading:
    """One decoded push from the meter.

    ``values`` holds the decode-contract fields (``active_power_import_w``, ``meter_id`` …) in
    physical units; ``unknown`` keeps objects the list tables do not know (or whose scaler is
    not known for this variant) as raw values by OBIS code, so nothing the meter said is lost.
    Readings are shared between consumers (storage, MQTT, the live feed): read-only, with
    read-only views of the values.
    """

    __slots__ = (
        "_frame",
        "_frame_counter",
        "_list_kind",
        "_manufacturer",
        "_offset",
        "_system_title",
        "_unknown",
        "_values",
    )

    def __init__(
        self,
        manufacturer: str,
        list_kind: str,
        values: Mapping[str, Value],
        unknown: Mapping[str, object] = _EMPTY,
        frame: bytes = b"",
        offset: int = 0,
        frame_counter: int | None = None,
        system_title: bytes | None = None,
    ) -> None:
        self._manufacturer = manufacturer
        self._list_kind = list_kind
        self._values: Mapping[str, Value] | None = MappingProxyType(dict(values))
        self._unknown: Mapping[str, object] = MappingProxyType(dict(unknown)) if unknown else _EMPTY
        self._frame = frame
        self._offset = offset
        self._frame_counter = frame_counter
        self._system_title = system_title

    @property
    def manufacturer(self) -> str:
        return self._manufacturer

    @property
    def list_kind(self) -> str:
        return self._list_kind

    @property
    def values(self) -> Mapping[str, Value]:
        values = self._values
        if values is None:
            values = self._values = MappingProxyType(self._build_values())
        return values

    def _build_values(self) -> dict[str, Value]:
        """The values of a reading made without them (a compiled template's, built on use)."""
        raise NotImplementedError

    @property
    def unknown(self) -> Mapping[str, object]:
        return self._unknown

    @property
    def frame(self) -> bytes:
        return self._frame

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def frame_counter(self) -> int | None:
        return self._frame_counter

    @property
    def system_title(self) -> bytes | None:
        return self._system_title

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
        values = self.values
        # copy() is the wrapped dict's own copy: updating from the read-only view directly goes
        # key by key through the mapping protocol, several times slower
        out.update(values.copy() if isinstance(values, MappingProxyType) else values)
        if self._unknown:
            out["unknown_obis"] = dict(self._unknown)
        return out

    def to_json_text(self, encode: JsonEncoder | None = None) -> str:
        """``to_json()`` as compact JSON text, what ``hanport decode`` writes per reading:
        written by ``encode`` (default: the standard library), or for a reading a compiled
        template decoded, by the template itself (the same text, without the dict)."""
        return (encode or compact_json)(self.to_json())

    def _key(self) -> tuple[object, ...]:
        return (
            self._manufacturer,
            self._list_kind,
            dict(self.values),
            dict(self._unknown),
            self._frame,
            self._offset,
            self._frame_counter,
            self._system_title,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reading):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        raise TypeError("unhashable type: 'Reading' (its values are a mapping)")

    def __repr__(self) -> str:
        return (
            f"Reading(manufacturer={self._manufacturer!r}, list_kind={self._list_kind!r}, "
            f"values={self.values!r}, unknown={self._unknown!r}, frame={self._frame!r}, "
            f"offset={self._offset!r}, frame_counter={self._frame_counter!r}, "
            f"system_title={self._system_title!r})"
        )


class FrameRejected:
    """A frame that failed a check; it produced no reading. ``kind``: crc, truncated,
    undecodable or decrypt."""

    __slots__ = ("_kind", "_offset", "_raw", "_reason")

    def __init__(self, reason: str, offset: int, raw: bytes, kind: str) -> None:
        self._reason = reason
        self._offset = offset
        self._raw = raw
        self._kind = kind

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def raw(self) -> bytes:
        return self._raw

    @property
    def kind(self) -> str:
        return self._kind

    def _key(self) -> tuple[str, int, bytes, str]:
        return (self._reason, self._offset, self._raw, self._kind)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameRejected):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"FrameRejected(reason={self._reason!r}, offset={self._offset!r}, "
            f"raw={self._raw!r}, kind={self._kind!r})"
        )


_STATS = (
    "frames_ok",
    "crc_errors",
    "undecodable",
    "decrypt_errors",
    "truncated",
    "bytes_skipped",
    "bytes_received",
)


class StreamStats:
    """Cumulative counters of one stream."""

    __slots__ = _STATS

    def __init__(
        self,
        frames_ok: int = 0,
        crc_errors: int = 0,
        undecodable: int = 0,
        decrypt_errors: int = 0,
        truncated: int = 0,
        bytes_skipped: int = 0,
        bytes_received: int = 0,
    ) -> None:
        self.frames_ok = frames_ok
        self.crc_errors = crc_errors
        self.undecodable = undecodable
        self.decrypt_errors = decrypt_errors
        self.truncated = truncated
        self.bytes_skipped = bytes_skipped
        self.bytes_received = bytes_received

    def as_dict(self) -> dict[str, int]:
        return {
            "frames_ok": self.frames_ok,
            "crc_errors": self.crc_errors,
            "undecodable": self.undecodable,
            "decrypt_errors": self.decrypt_errors,
            "truncated": self.truncated,
            "bytes_skipped": self.bytes_skipped,
            "bytes_received": self.bytes_received,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamStats):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        raise TypeError("unhashable type: 'StreamStats' (its counters change)")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value}" for name, value in self.as_dict().items())
        return f"StreamStats({fields})"


class Keys:
    """The customer's keys for encrypted meters: GUEK (encryption) and optional GAK
    (authentication), 16 bytes each."""

    __slots__ = ("_gak", "_guek")

    def __init__(self, guek: bytes, gak: bytes | None = None) -> None:
        if not guek:
            raise InvalidKeyError("the encryption key (GUEK) is empty")
        if len(guek) != 16:
            raise InvalidKeyError("the encryption key (GUEK) must be 16 bytes (32 hex digits)")
        if gak is not None and len(gak) != 16:
            raise InvalidKeyError("the authentication key (GAK) must be 16 bytes (32 hex digits)")
        self._guek = guek
        self._gak = gak

    @property
    def guek(self) -> bytes:
        return self._guek

    @property
    def gak(self) -> bytes | None:
        return self._gak

    @classmethod
    def from_hex(cls, guek: str, gak: str | None = None) -> Keys:
        return cls(
            _parse_hex(guek, "encryption key (GUEK)"),
            _parse_hex(gak, "authentication key (GAK)") if gak else None,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keys):
            return NotImplemented
        return (self._guek, self._gak) == (other._guek, other._gak)

    def __hash__(self) -> int:
        return hash((self._guek, self._gak))

    def __repr__(self) -> str:
        return f"Keys(guek={self._guek!r}, gak={self._gak!r})"


def _parse_hex(text: str, name: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise InvalidKeyError(f"the {name} is not hexadecimal: {text!r}") from None


_SCALER_NAMES = ("power", "current", "voltage", "energy", "power_factor")


class ScalerOverride:
    """Decimal exponents that replace the brand defaults for one installation.

    ``current=-3`` for a CT meter sending mA, ``energy=0`` for registers in Wh (Swedish
    Kamstrup), ``voltage=-2`` for 0.01 V firmware. ``None`` keeps what the frame or brand says.
    """

    __slots__ = ("_current", "_energy", "_power", "_power_factor", "_voltage")

    def __init__(
        self,
        power: int | None = None,
        current: int | None = None,
        voltage: int | None = None,
        energy: int | None = None,
        power_factor: int | None = None,
    ) -> None:
        self._power = power
        self._current = current
        self._voltage = voltage
        self._energy = energy
        self._power_factor = power_factor
        for name, value in self.as_dict().items():
            if not -_MAX_EXPONENT <= value <= _MAX_EXPONENT:
                raise LocalProtocolError(
                    f"the {name} exponent {value} is outside -{_MAX_EXPONENT}…{_MAX_EXPONENT}"
                )

    @property
    def power(self) -> int | None:
        return self._power

    @property
    def current(self) -> int | None:
        return self._current

    @property
    def voltage(self) -> int | None:
        return self._voltage

    @property
    def energy(self) -> int | None:
        return self._energy

    @property
    def power_factor(self) -> int | None:
        return self._power_factor

    def _all(self) -> tuple[int | None, ...]:
        return (self._power, self._current, self._voltage, self._energy, self._power_factor)

    def as_dict(self) -> dict[str, int]:
        return {
            name: value
            for name, value in zip(_SCALER_NAMES, self._all(), strict=True)
            if value is not None
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScalerOverride):
            return NotImplemented
        return self._all() == other._all()

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}" for name, value in zip(_SCALER_NAMES, self._all(), strict=True)
        )
        return f"ScalerOverride({fields})"
