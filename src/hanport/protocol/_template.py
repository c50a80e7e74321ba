"""Compiled templates: decode a frame of an already-seen layout with one ``struct`` call.

A meter sends the same list layout every push; only the register values and clocks change, and
every meter of a model sends the same layout with its own identity. After the general decoder
has mapped one notification, the layout is compiled into a single ``struct.Struct`` over the
whole APDU: the bytes that must stay the same (tags, lengths, OBIS codes, scalers) become fixed
``Ns`` fields (the layout's key, see ``_template_cache``), the registers integer fields with the
exponent the general path used, the clocks ``12s`` fields, and the identity texts (meter id,
meter type, list version) ``Ns`` fields that are checked for shape: printable, and leading the
lists to the same decisions (manufacturer, scalers) as the text the template was compiled from.
So a new meter of a known layout is decoded by the template from its first frame.

Which output field a register or text feeds, and with which exponent, is learnt by probing: the
general decoder is run again with that one value changed, and the one field that moves tells the
key and its scale. The general decoder stays the only place that knows the lists; a template is
only a cache of its decisions, and any frame that does not match one exactly is decoded the
general way.
"""

from __future__ import annotations

import math
import struct
from _json import encode_basestring
from collections.abc import Callable, Mapping
from operator import itemgetter
from types import MappingProxyType

from ._apdu import header_time_span
from ._axdr import INTEGER_FORMATS, read_length
from ._cosem import clock_fields, parse_datetime
from ._errors import DecodeError
from ._events import JsonEncoder, Reading, Value
from .lists import kamstrup, text_decisions
from .lists.kamstrup import CENTIVOLT_ABOVE as _CENTIVOLT_ABOVE

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import Any, Final

__all__ = ["Template", "compile_template"]

#: scaler (integer, 0x0F) and unit (enum, 0x16) belong to the layout, not to the measurement
_NUMERIC = {tag: INTEGER_FORMATS[tag] for tag in (0x05, 0x06, 0x10, 0x11, 0x12, 0x14, 0x15)}
_FIXED_SIZE_CONSTANTS = {
    0x0F: 1,
    0x16: 1,
    0x03: 1,
    0x17: 4,
    0x18: 8,
    0x19: 12,
    0x1A: 5,
    0x1B: 4,
    0x0D: 1,
}
_CONTAINERS = (0x01, 0x02)
_STRINGS = (0x09, 0x0A, 0x0C)
_MAX_LEAVES = 512
#: identity texts a template takes as they come: printable ASCII, as meters write them
_PRINTABLE = bytes(range(0x20, 0x7F))
#: characters written into a text to probe it (two, in case the text has one of them there)
_PROBE_CHARACTERS = b"05Q"
#: identity texts remembered per template with their verdict; a fleet has one set per meter
_MAX_KNOWN_TEXTS = 4096

Decoded = tuple[str, str, dict[str, Value]]  # manufacturer, list kind, values


class _Leaf:
    __slots__ = ("size", "start", "tag")

    def __init__(self, tag: int, start: int, size: int) -> None:
        self.tag: Final = tag
        self.start: Final = start  # first payload byte
        self.size: Final = size


def _leaves(apdu: bytes, pos: int) -> list[_Leaf]:
    """Every leaf value of the A-XDR data at ``pos`` in document order (iteratively)."""
    leaves: list[_Leaf] = []
    pending = [1]  # values still to read at each nesting level
    while pending:
        if pending[-1] == 0:
            pending.pop()
            continue
        pending[-1] -= 1
        if pos >= len(apdu) or len(leaves) > _MAX_LEAVES:
            raise DecodeError("layout scan ran past the data")
        tag = apdu[pos]
        if tag in _CONTAINERS:
            count, pos = read_length(apdu, pos + 1)
            pending.append(count)
        elif tag in _NUMERIC:
            size = _NUMERIC[tag].size
            leaves.append(_Leaf(tag, pos + 1, size))
            pos += 1 + size
        elif tag in _STRINGS:
            length, start = read_length(apdu, pos + 1)
            leaves.append(_Leaf(tag, start, length))
            pos = start + length
        elif tag in _FIXED_SIZE_CONSTANTS:
            pos += 1 + _FIXED_SIZE_CONSTANTS[tag]
        elif tag == 0x00:
            pos += 1
        else:
            raise DecodeError(f"layout scan met type 0x{tag:02x}")
    if pos != len(apdu):
        raise DecodeError("layout scan did not end at the end of the APDU")
    return leaves


class _Register:
    __slots__ = ("above_limit", "exponent", "index", "key")

    def __init__(self, index: int, key: str, exponent: int, above_limit: bool | None) -> None:
        self.index: Final = index  # in the unpacked tuple
        self.key: Final = key
        self.exponent: Final = exponent
        #: Kamstrup voltage: whether the raw value was above 1000 (0.01 V firmware); re-checked
        self.above_limit: Final = above_limit


class _Clock:
    __slots__ = ("index", "prefix")

    def __init__(self, index: int, prefix: str) -> None:
        self.index: Final = index
        self.prefix: Final = prefix  # "meter_clock" or "notification_time"


class _Text:
    __slots__ = ("index", "key")

    def __init__(self, index: int, key: str) -> None:
        self.index: Final = index
        self.key: Final = key


def _clean_text(raw: bytes) -> str | None:
    """The text the lists make of ``raw`` when it is printable ASCII; None when it is not."""
    if not raw or raw.translate(None, _PRINTABLE):
        return None
    return raw.decode("ascii").strip()


#: an identity text the template accepts: as the values carry it, and as JSON text
Texts = tuple[tuple[str, ...], tuple[str, ...]]
Clock = tuple[str, int | None, str]
_NO_TEXTS: Texts = ((), ())


class Template:
    """One compiled layout; :meth:`apply` returns the values or None when the frame differs.

    ``layout`` and ``constants`` are the layout's key: frames whose fixed fields equal
    ``constants`` have this layout, and :meth:`reading` decodes their unpacked fields.
    """

    __slots__ = (
        "_above",
        "_build",
        "_clock_indexes",
        "_constant_values",
        "_decisions",
        "_get_texts",
        "_json",
        "_known_texts",
        "_last_raw",
        "_last_texts",
        "_not_above",
        "_text_keys",
        "constant_indexes",
        "constants",
        "get_constants",
        "layout",
        "list_kind",
        "manufacturer",
    )

    def __init__(
        self,
        layout: struct.Struct,
        constant_indexes: list[int],
        constants: tuple[object, ...],
        fields: list[tuple[str, object]],
        manufacturer: str,
        list_kind: str,
        compiled_from: Mapping[str, Value],
    ) -> None:
        self.layout = layout
        self.constant_indexes = tuple(constant_indexes)
        # itemgetter of one index returns the item itself, of several a tuple
        self.get_constants = itemgetter(*constant_indexes)
        self.constants = constants if len(constants) > 1 else constants[0]
        #: Kamstrup voltages whose raw value must stay above (or not above) 1000
        self._above = tuple(
            source.index
            for _, source in fields
            if isinstance(source, _Register) and source.above_limit is True
        )
        self._not_above = tuple(
            source.index
            for _, source in fields
            if isinstance(source, _Register) and source.above_limit is False
        )
        self._clock_indexes = tuple(
            dict.fromkeys(source.index for _, source in fields if isinstance(source, _Clock))
        )
        texts = [source for _, source in fields if isinstance(source, _Text)]
        self._text_keys = tuple(text.key for text in texts)
        self._get_texts = itemgetter(*(text.index for text in texts)) if texts else None
        self._constant_values = tuple(
            source for _, source in fields if not isinstance(source, _Register | _Clock | _Text)
        )
        self._build, self._json = _builders(
            fields, self._clock_indexes, self._text_keys, manufacturer, list_kind
        )
        # What the lists decided from the texts the template was compiled from
        self._decisions = self._decide(tuple(compiled_from[key] for key in self._text_keys))
        #: verdicts on the identity texts seen: the texts, or None when they do not fit
        self._known_texts: dict[object, Texts | None] = {}
        self._last_raw: object = None
        self._last_texts: Texts | None = None
        self.manufacturer = manufacturer
        self.list_kind = list_kind

    def _decide(self, texts: tuple[Value, ...]) -> tuple[object, ...]:
        return tuple(
            text_decisions(key, str(text)) for key, text in zip(self._text_keys, texts, strict=True)
        )

    def _texts(self, raw: object) -> Texts | None:
        """The identity texts of one frame, or None when they are not of the template's shape."""
        if raw == self._last_raw:  # the same meter as the last frame: compared, not hashed
            return self._last_texts
        known = self._known_texts.get(raw, False)  # False: not seen yet
        if not isinstance(known, bool):
            self._last_raw, self._last_texts = raw, known
            return known
        raws = raw if isinstance(raw, tuple) else (raw,)
        cleaned = tuple(_clean_text(text) for text in raws)
        texts = None
        if None not in cleaned:
            candidate: tuple[str, ...] = cleaned  # type: ignore[assignment]
            if self._decide(candidate) == self._decisions:
                texts = (candidate, tuple(_json_text(text) for text in candidate))
        if len(self._known_texts) >= _MAX_KNOWN_TEXTS:
            self._known_texts.clear()
        self._known_texts[raw] = texts
        self._last_raw, self._last_texts = raw, texts
        return texts

    def _fields(self, unpacked: tuple[Any, ...]) -> tuple[Texts, list[Clock]] | None:
        texts = _NO_TEXTS
        get_texts = self._get_texts
        if get_texts is not None:
            raw = get_texts(unpacked)
            found = self._last_texts if raw == self._last_raw else self._texts(raw)
            if found is None:
                return None
            texts = found
        for index in self._above:
            if unpacked[index] <= _CENTIVOLT_ABOVE:
                return None
        for index in self._not_above:
            if unpacked[index] > _CENTIVOLT_ABOVE:
                return None
        clocks = []
        for index in self._clock_indexes:
            clock = clock_fields(unpacked[index])
            if clock is None:
                return None
            clocks.append(clock)
        return texts, clocks

    def reading(
        self,
        unpacked: tuple[Any, ...],
        frame: bytes,
        offset: int,
        frame_counter: int | None,
        system_title: bytes | None,
    ) -> Reading | None:
        """The reading of a frame whose fixed fields matched ``constants``; None when its
        texts, voltages or clocks lead the general decoder elsewhere. Its values are built
        when they are first read, its JSON text without them."""
        found = self._fields(unpacked)
        if found is None:
            return None
        texts, clocks = found
        return _TemplatedReading(
            self, unpacked, texts, clocks, frame, offset, frame_counter, system_title
        )

    def json_of(self, unpacked: tuple[Any, ...]) -> str | None:
        """``reading(unpacked, …).to_json_text()`` without the reading: the JSON text of a
        frame whose fixed fields matched ``constants``, or None (as ``reading``)."""
        found = self._fields(unpacked)
        if found is None:
            return None
        return self._json(unpacked, found[0][1], found[1])

    def values(self, unpacked: tuple[Any, ...]) -> dict[str, Value] | None:
        """The values of a frame whose fixed fields matched ``constants``, or None."""
        found = self._fields(unpacked)
        if found is None:
            return None
        return self.build(unpacked, found[0], found[1])

    def build(
        self, unpacked: tuple[Any, ...], texts: Texts, clocks: list[Clock]
    ) -> dict[str, Value]:
        return self._build(unpacked, texts[0], clocks, self._constant_values)

    def json_text(self, unpacked: tuple[Any, ...], texts: Texts, clocks: list[Clock]) -> str:
        return self._json(unpacked, texts[1], clocks)

    def apply(self, apdu: bytes) -> dict[str, Value] | None:
        """The values of ``apdu`` when it has this layout, else None."""
        if len(apdu) != self.layout.size:
            return None
        unpacked = self.layout.unpack(apdu)
        if self.get_constants(unpacked) != self.constants:
            return None
        return self.values(unpacked)


class _TemplatedReading(Reading):
    """A reading a compiled template decoded: what the template unpacked, the values and the
    JSON text made from it on demand (``hanport decode`` never needs the values dict)."""

    __slots__ = ("_clocks", "_template", "_texts", "_unpacked")

    def __init__(
        self,
        template: Template,
        unpacked: tuple[Any, ...],
        texts: Texts,
        clocks: list[Clock],
        frame: bytes,
        offset: int,
        frame_counter: int | None,
        system_title: bytes | None,
    ) -> None:
        self._manufacturer = template.manufacturer
        self._list_kind = template.list_kind
        self._values = None
        self._unknown = _EMPTY
        self._frame = frame
        self._offset = offset
        self._frame_counter = frame_counter
        self._system_title = system_title
        self._template = template
        self._unpacked = unpacked
        self._texts = texts
        self._clocks = clocks

    def _build_values(self) -> dict[str, Value]:
        return self._template.build(self._unpacked, self._texts, self._clocks)

    def to_json_text(self, encode: JsonEncoder | None = None) -> str:
        return self._template.json_text(self._unpacked, self._texts, self._clocks)


_EMPTY: Mapping[str, object] = MappingProxyType({})

#: which part of a clock (see ``clock_fields``) each clock key takes
_CLOCK_PARTS = {
    "meter_clock": 0,
    "notification_time": 0,
    "meter_clock_deviation_min": 1,
    "meter_clock_status": 2,
}


class _NumberTexts:
    """JSON texts of a register's value ``raw × 10^exponent`` by ``raw``: a register's raw
    values repeat (currents, voltages, power), and making the text of a number (a float's
    above all) is the dearest part of a reading's JSON; a dict lookup is not."""

    __slots__ = ("exponent", "texts")

    def __init__(self, exponent: int) -> None:
        self.exponent = exponent
        self.texts: dict[int, str] = {}

    def make(self, raw: int) -> str:
        # as json writes the value the general path makes: an int, or a float below units
        exponent = self.exponent
        if exponent < 0:
            text = float.__repr__(raw / 10**-exponent)
        else:
            text = int.__repr__(raw * 10**exponent)
        if len(self.texts) >= _MAX_NUMBER_TEXTS:
            self.texts.clear()
        self.texts[raw] = text
        return text


_MAX_NUMBER_TEXTS = 65536
#: one cache per exponent, shared by every template
_NUMBER_TEXTS: dict[int, _NumberTexts] = {}


def _json_text(text: str) -> str:
    """``text`` as a JSON string, as ``json`` writes it with ``ensure_ascii=False``."""
    return encode_basestring(text)


def _json_constant(value: object) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and math.isfinite(value):
        return float.__repr__(value)
    raise ValueError(f"no JSON text for {value!r} in a template")


def _builders(
    fields: list[tuple[str, object]],
    clocks: tuple[int, ...],
    texts: tuple[str, ...],
    manufacturer: str,
    list_kind: str,
) -> tuple[Callable[..., dict[str, Value]], Callable[..., str]]:
    """Two functions made from the layout: one makes the values dict of a frame in one dict
    display, in the key order of the general decoder (``build(unpacked, texts, clocks,
    constants)``); the other writes the reading's JSON text with one ``%`` format, as the
    standard library writes ``to_json()`` compactly (``text(unpacked, json_texts, clocks)``).

    They are Python source made from the layout (keys by ``repr``, integers) and compiled
    once: one expression per field, where a loop over the fields would cost several times
    more.
    """
    items = []
    pieces = [
        '{"manufacturer":' + encode_basestring(manufacturer).replace("%", "%%"),
        '"list_kind":' + encode_basestring(list_kind).replace("%", "%%"),
    ]
    arguments = []
    constants = 0
    namespace: dict[str, Any] = {}
    for key, source in fields:
        name = encode_basestring(key).replace("%", "%%") + ":"
        if isinstance(source, _Register):
            raw = f"u[{source.index}]"
            expression = raw
            if source.exponent < 0:
                expression += f" / {10**-source.exponent}"
            elif source.exponent > 0:
                expression += f" * {10**source.exponent}"
            cache = _NUMBER_TEXTS.setdefault(source.exponent, _NumberTexts(source.exponent))
            tag = f"{'n' if source.exponent < 0 else 'p'}{abs(source.exponent)}"
            namespace[f"d{tag}"], namespace[f"m{tag}"] = cache.texts, cache.make
            text = f"(d{tag}.get({raw}) or m{tag}({raw}))"
            pieces.append(name + "%s")
            arguments.append(text)
        elif isinstance(source, _Clock):
            part = _CLOCK_PARTS[key]
            expression = f"c[{clocks.index(source.index)}][{part}]"
            if part == 1:  # the deviation: minutes or None
                pieces.append(name + "%s")
                arguments.append(f"'null' if {expression} is None else {expression}")
            else:  # ISO date-time or status text: digits, letters and punctuation only
                pieces.append(name + '"%s"')
                arguments.append(expression)
        elif isinstance(source, _Text):
            expression = f"t[{texts.index(source.key)}]"
            pieces.append(name + "%s")
            arguments.append(expression)
        else:
            expression = f"k[{constants}]"
            constants += 1
            pieces.append(name + _json_constant(source).replace("%", "%%"))
        items.append(f"{key!r}: {expression}")
    form = ",".join(pieces) + "}"
    exec(
        f"def build(u, t, c, k):\n    return {{{', '.join(items)}}}\n"
        f"def text(u, t, c):\n    return {form!r} % ({''.join(a + ', ' for a in arguments)})\n",
        namespace,
    )
    return namespace["build"], namespace["text"]


def _probe(apdu: bytes, leaf: _Leaf, fmt: str) -> tuple[int, bytes] | None:
    raw = struct.unpack_from(">" + fmt, apdu, leaf.start)[0]
    for changed in (raw + 1, raw - 1):
        try:
            payload = struct.pack(">" + fmt, changed)
        except struct.error:
            continue
        return raw, apdu[: leaf.start] + payload + apdu[leaf.start + leaf.size :]
    return None


def _probe_register(
    apdu: bytes, leaf: _Leaf, decoded: Decoded, decode: Callable[[bytes], Decoded]
) -> _Register | bool:
    """The register ``leaf`` feeds; True when it feeds nothing (a constant), False when the
    layout cannot be compiled."""
    manufacturer, _, values = decoded
    fmt = _NUMERIC[leaf.tag].format[1:]
    probe = _probe(apdu, leaf, fmt)
    if probe is None:
        return False
    raw, changed_apdu = probe
    try:
        _, _, changed = decode(changed_apdu)
    except DecodeError:
        return False
    moved = [k for k in values if changed.get(k) != values[k]]
    if not moved:
        return True  # not a measurement (e.g. a number the lists ignore): keep it constant
    if len(moved) != 1:
        return False
    key = moved[0]
    old, new = values[key], changed[key]
    if not isinstance(old, int | float) or not isinstance(new, int | float) or old == new:
        return False
    exponent = round(math.log10(abs(new - old)))
    above = (
        raw > kamstrup.CENTIVOLT_ABOVE
        if manufacturer == "Kamstrup" and key.startswith("voltage_")
        else None
    )
    return _Register(-1, key, exponent, above)


def _probe_text(
    apdu: bytes, leaf: _Leaf, decoded: Decoded, decode: Callable[[bytes], Decoded]
) -> str | None:
    """The identity field the printable string ``leaf`` feeds, or None (keep it constant).

    One character is changed; the field qualifies when exactly that field moves, to the
    changed text, and the list, manufacturer and every other value stay as they were.
    """
    text = _clean_text(apdu[leaf.start : leaf.start + leaf.size])
    if text is None or text not in decoded[2].values():
        return None
    middle = leaf.start + leaf.size // 2
    for character in _PROBE_CHARACTERS:
        if apdu[middle] == character:
            continue
        changed_apdu = apdu[:middle] + bytes((character,)) + apdu[middle + 1 :]
        try:
            manufacturer, list_kind, changed = decode(changed_apdu)
        except DecodeError:
            return None
        values = decoded[2]
        moved = [k for k in values if changed.get(k) != values[k]]
        expected = _clean_text(changed_apdu[leaf.start : leaf.start + leaf.size])
        if (
            (manufacturer, list_kind) == decoded[:2]
            and changed.keys() == values.keys()
            and len(moved) == 1
            and values[moved[0]] == text
            and changed[moved[0]] == expected
        ):
            return moved[0]
    return None


def _variable_fields(
    apdu: bytes, decoded: Decoded, decode: Callable[[bytes], Decoded]
) -> list[tuple[_Leaf, str, object]] | None:
    """(leaf, struct code, source placeholder) of every field that varies; None when the
    layout has data-dependent decisions a template cannot keep."""
    values = decoded[2]
    time_at, body_at = header_time_span(apdu)
    try:
        leaves = _leaves(apdu, body_at)
    except DecodeError:
        return None
    variable: list[tuple[_Leaf, str, object]] = []
    if time_at is not None and "notification_time" in values:
        variable.append((_Leaf(0x09, time_at, 12), "12s", _Clock(-1, "notification_time")))
    for leaf in leaves:
        if leaf.tag in _NUMERIC:
            register = _probe_register(apdu, leaf, decoded, decode)
            if register is False:
                return None
            if isinstance(register, _Register):
                variable.append((leaf, _NUMERIC[leaf.tag].format[1:], register))
        elif leaf.tag == 0x09 and leaf.size == 12 and "meter_clock" in values:
            clock = parse_datetime(apdu[leaf.start : leaf.start + 12])
            if clock is not None and clock.iso() == values["meter_clock"]:
                variable.append((leaf, "12s", _Clock(-1, "meter_clock")))
        else:
            key = _probe_text(apdu, leaf, decoded, decode)
            if key is not None:
                variable.append((leaf, f"{leaf.size}s", _Text(-1, key)))
    return variable


def compile_template(
    apdu: bytes, decoded: Decoded, decode: Callable[[bytes], Decoded]
) -> Template | None:
    """Compile the layout of ``apdu`` (a plaintext data-notification that ``decode`` mapped to
    ``decoded``); None when the layout has data-dependent decisions a template cannot keep."""
    manufacturer, list_kind, values = decoded
    variable = _variable_fields(apdu, decoded, decode)
    if variable is None:
        return None
    # Build one struct over the whole APDU: constant runs between the variable payloads.
    codes: list[str] = []
    constant_indexes: list[int] = []
    constants: list[object] = []
    placed: list[tuple[object, int]] = []
    at = 0
    for leaf, fmt, source in sorted(variable, key=lambda item: item[0].start):
        if leaf.start > at:
            constant_indexes.append(len(codes))
            constants.append(apdu[at : leaf.start])
            codes.append(f"{leaf.start - at}s")
        placed.append((source, len(codes)))
        codes.append(fmt)
        at = leaf.start + leaf.size
    if at < len(apdu):
        constant_indexes.append(len(codes))
        constants.append(apdu[at:])
        codes.append(f"{len(apdu) - at}s")
    sources: dict[str, object] = {}
    for source, index in placed:
        if isinstance(source, _Register):
            sources[source.key] = _Register(index, source.key, source.exponent, source.above_limit)
        elif isinstance(source, _Text):
            sources[source.key] = _Text(index, source.key)
        elif isinstance(source, _Clock):
            clock_source = _Clock(index, source.prefix)
            if source.prefix == "notification_time":
                sources["notification_time"] = clock_source
            else:
                for key in ("meter_clock", "meter_clock_deviation_min", "meter_clock_status"):
                    sources[key] = clock_source
    fields = [(key, sources.get(key, value)) for key, value in values.items()]
    template = Template(
        struct.Struct(">" + "".join(codes)),
        constant_indexes,
        tuple(constants),
        fields,
        manufacturer,
        list_kind,
        values,
    )
    if template.apply(apdu) != values:
        return None  # the template must reproduce the general decoder exactly
    return template
