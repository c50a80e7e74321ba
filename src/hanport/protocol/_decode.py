"""APDU → Reading: decryption, data-notification, general block transfer, list mapping."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._apdu import DATA_NOTIFICATION, GLO_CIPHERING, parse_ciphered, parse_notification
from ._axdr import read_length
from ._errors import DecodeError
from ._events import Keys, Reading, ScalerOverride, Value
from ._template import Template, compile_template
from .lists import manufacturer_from_id, map_body

__all__ = ["ApduDecoder", "decode_apdu"]

_GENERAL_BLOCK_TRANSFER = 0xE0
_LAST_BLOCK = 0x80
#: compiled layouts kept per decoder: a reader sees a handful (lists × meters)
_MAX_TEMPLATES = 64


@dataclass(slots=True)
class ApduDecoder:
    """Decodes APDUs; keeps the state of a general block transfer across calls."""

    keys: Keys | None = None
    scalers: ScalerOverride | None = None
    _blocks: list[bytes] = field(default_factory=list)
    _next_block: int = 1
    _templates: dict[tuple[int, str | None], list[Template]] = field(default_factory=dict)
    _template_count: int = 0

    def decode(
        self, apdu: bytes, *, frame: bytes = b"", offset: int = 0, hint: str | None = None
    ) -> Reading | None:
        """The reading in ``apdu``; None while a block transfer still waits for blocks."""
        if not apdu:
            raise DecodeError("empty APDU")
        tag = apdu[0]
        if tag == _GENERAL_BLOCK_TRANSFER:
            whole = self._block(apdu)
            return (
                None if whole is None else self.decode(whole, frame=frame, offset=offset, hint=hint)
            )
        system_title = None
        counter = None
        if tag == GLO_CIPHERING:
            ciphered = parse_ciphered(apdu)
            system_title, counter = ciphered.system_title, ciphered.counter
            hint = manufacturer_from_id(system_title[:3].decode("latin-1")) or hint
            apdu = ciphered.decrypt(self.keys)
            if not apdu or apdu[0] != DATA_NOTIFICATION:
                raise DecodeError(
                    "decrypted APDU is not a data-notification: wrong key?",
                )
        elif tag != DATA_NOTIFICATION:
            raise DecodeError(f"unsupported APDU tag 0x{tag:02x}")
        layout_key = (len(apdu), hint)
        for template in self._templates.get(layout_key, ()):
            values = template.apply(apdu)
            if values is not None:
                return Reading(
                    template.manufacturer,
                    template.list_kind,
                    values,
                    frame=frame or apdu,
                    offset=offset,
                    frame_counter=counter,
                    system_title=system_title,
                )
        manufacturer, list_kind, values, unknown = self._general(apdu, hint)
        if (
            not unknown
            and self._template_count < _MAX_TEMPLATES
            and self._layout_is_fixed(manufacturer, values)
        ):
            compiled = compile_template(
                apdu, (manufacturer, list_kind, values), lambda a: self._general(a, hint)[:3]
            )
            if compiled is not None:
                self._templates.setdefault(layout_key, []).append(compiled)
                self._template_count += 1
        return Reading(
            manufacturer=manufacturer,
            list_kind=list_kind,
            values=values,
            unknown=unknown,
            frame=frame or apdu,
            offset=offset,
            frame_counter=counter,
            system_title=system_title,
        )

    @staticmethod
    def _layout_is_fixed(manufacturer: str, values: dict[str, Value]) -> bool:
        # A Kamstrup list without a meter type decides its current scaler from the values
        # (CT meter heuristic), which a template could not repeat.
        return not (manufacturer == "Kamstrup" and "meter_type" not in values)

    def _general(
        self, apdu: bytes, hint: str | None
    ) -> tuple[str, str, dict[str, Value], dict[str, object]]:
        notification = parse_notification(apdu)
        mapped = map_body(notification.body, hint=hint, overrides=self.scalers)
        if notification.time is not None:
            mapped.values["notification_time"] = notification.time.iso()
        return mapped.manufacturer, mapped.list_kind, mapped.values, mapped.unknown

    def _block(self, apdu: bytes) -> bytes | None:
        # E0 | block-control | block-number(2) | block-number-ack(2) | raw-data (BER length)
        if len(apdu) < 6:
            raise DecodeError("general block transfer header is truncated")
        control = apdu[1]
        number = int.from_bytes(apdu[2:4], "big")
        length, pos = read_length(apdu, 6)
        data = apdu[pos : pos + length]
        if number == 1:
            self._blocks = []
        elif number != self._next_block:
            self._blocks = []
            self._next_block = 1
            raise DecodeError(f"general block transfer: block {number} out of sequence")
        self._blocks.append(data)
        self._next_block = number + 1
        if not control & _LAST_BLOCK:
            return None
        whole = b"".join(self._blocks)
        self._blocks = []
        self._next_block = 1
        return whole


def decode_apdu(
    apdu: bytes, *, keys: Keys | None = None, scalers: ScalerOverride | None = None
) -> Reading:
    """Decode one complete APDU (data-notification or general-glo-ciphering)."""
    reading = ApduDecoder(keys, scalers).decode(apdu)
    if reading is None:
        raise DecodeError("the APDU is one block of a general block transfer")
    return reading
