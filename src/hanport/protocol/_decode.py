"""APDU → Reading: decryption, data-notification, list mapping, compiled layout templates."""

from __future__ import annotations

from ._apdu import (
    DATA_NOTIFICATION,
    GENERAL_BLOCK_TRANSFER,
    GLO_CIPHERING,
    parse_ciphered,
    parse_notification,
)
from ._errors import DecodeError, DecryptionError
from ._events import Keys, Reading, ScalerOverride, Value
from ._template import compile_template
from ._template_cache import TemplateCache
from .lists import manufacturer_from_id, map_body

__all__ = ["MAX_TEMPLATES", "ApduDecoder", "decode_apdu"]

#: compiled layouts kept per decoder, least recently used out first: a layout serves every
#: meter of a model, so a capture of a whole fleet needs a few dozen (lists × models × phases)
MAX_TEMPLATES = 256


class ApduDecoder:
    """Decodes complete APDUs; keeps the compiled layouts of the lists it has seen.

    ``max_templates=0`` decodes every frame the general way."""

    __slots__ = ("_templates", "keys", "max_templates", "scalers")

    def __init__(
        self,
        keys: Keys | None = None,
        scalers: ScalerOverride | None = None,
        max_templates: int = MAX_TEMPLATES,
    ) -> None:
        self.keys = keys
        self.scalers = scalers
        self.max_templates = max_templates
        self._templates = TemplateCache(max_templates)

    def decode(
        self, apdu: bytes, frame: bytes = b"", offset: int = 0, hint: str | None = None
    ) -> Reading:
        """The reading in ``apdu`` (a data-notification, plain or ciphered)."""
        if not apdu:
            raise DecodeError("empty APDU")
        tag = apdu[0]
        system_title = None
        counter = None
        if tag == GLO_CIPHERING:
            ciphered = parse_ciphered(apdu)
            system_title, counter = ciphered.system_title, ciphered.counter
            hint = manufacturer_from_id(system_title[:3].decode("latin-1")) or hint
            apdu = ciphered.decrypt(self.keys)
            if not apdu or apdu[0] != DATA_NOTIFICATION:
                raise DecryptionError("the decrypted APDU is not a data-notification: wrong key?")
        elif tag == GENERAL_BLOCK_TRANSFER:
            raise DecodeError(
                "one block of a general block transfer: feed the frames to a HanStream"
            )
        elif tag != DATA_NOTIFICATION:
            raise DecodeError(f"unsupported APDU tag 0x{tag:02x}")
        found = self._templates.find(apdu, hint, frame, offset, counter, system_title)
        if found is not None:
            return found
        manufacturer, list_kind, values, unknown = self._general(apdu, hint)
        if (
            not unknown
            and self._layout_is_fixed(manufacturer, values)
            and self._templates.worth_compiling(apdu, hint)
        ):
            compiled = compile_template(
                apdu, (manufacturer, list_kind, values), lambda a: self._general(a, hint)[:3]
            )
            if compiled is None:
                self._templates.failed(apdu, hint)
            else:
                self._templates.add(compiled, hint)
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

    def json_text(self, buffer: bytearray, at: int, size: int, hint: str | None) -> str | None:
        """The JSON text (``Reading.to_json_text``) of the plaintext data-notification at
        ``buffer[at : at + size]`` when a compiled template has its layout, else None (decode
        it with :meth:`decode`)."""
        return self._templates.find_json(buffer, at, size, hint)

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


def decode_apdu(
    apdu: bytes, *, keys: Keys | None = None, scalers: ScalerOverride | None = None
) -> Reading:
    """Decode one complete APDU (data-notification or general-glo-ciphering)."""
    return ApduDecoder(keys, scalers).decode(apdu)
