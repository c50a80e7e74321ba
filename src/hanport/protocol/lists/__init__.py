"""From a data-notification body to contract fields: identify the list, apply scalers.

Three body styles exist (docs/protocol.md §4.3): OBIS/value pairs in one structure (Kamstrup,
Swedish Kaifa, Austrian Kaifa with flat {scaler, unit} structures), an array of {OBIS, value[,
{scaler, unit}]} structures (Aidon, L&G E350), and bare positional values (Kaifa KFM_001,
Iskra). Objects are walked the same way for the first two; the third needs a layout by element
count. Whatever the tables do not know is kept in ``unknown`` by OBIS code, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .._axdr import AxdrValue
from .._cosem import UNITS, parse_datetime
from .._errors import UnknownListError
from .._events import ScalerOverride, Value
from . import aidon, kaifa, kamstrup
from ._layout import Row
from ._obis import CLOCK_CODE, OBJECTS, Quantity, obis_text

__all__ = [
    "MappedList",
    "Row",
    "aidon",
    "kaifa",
    "kamstrup",
    "manufacturer_from_id",
    "manufacturer_from_source",
    "map_body",
    "text_decisions",
]

_MANUFACTURER_BY_LIST_ID = {
    kamstrup.LIST_ID: "Kamstrup",
    aidon.LIST_ID: "Aidon",
    kaifa.LIST_ID: "Kaifa",
    "EMBRIQ_V1_1": "Landis+Gyr",
}
#: FLAG manufacturer ids as they begin system titles and some meter numbers
_MANUFACTURER_BY_FLAG_ID = {
    "KAM": "Kamstrup",
    "KFM": "Kaifa",
    "ISK": "Iskra",
    "LGZ": "Landis+Gyr",
    "SAG": "Sagemcom",
    "ADN": "Aidon",
    "LGF": "Landis+Gyr",  # P1 identification of the E360
}
#: HDLC source address → manufacturer, for lists that do not name themselves (docs/protocol.md §2)
_MANUFACTURER_BY_SOURCE = {
    b"\x21": "Kamstrup",
    b"\x08\x83": "Aidon",
    b"\x02\x01": "Kaifa",
    b"\x00\x01": "Kaifa",
    b"\x02\x23": "Iskra",
}
_DEFAULT_EXPONENTS: dict[str, Mapping[str, int]] = {
    "Kamstrup": kamstrup.DEFAULT_EXPONENTS,
    "Kaifa": kaifa.DEFAULT_EXPONENTS,
}
_OVERRIDE_FIELD = {
    Quantity.POWER: "power",
    Quantity.CURRENT: "current",
    Quantity.VOLTAGE: "voltage",
    Quantity.ENERGY: "energy",
    Quantity.POWER_FACTOR: "power_factor",
}
_NO_OBIS = "(no OBIS)"


class MappedList:
    __slots__ = ("list_kind", "manufacturer", "unknown", "values")

    def __init__(
        self,
        manufacturer: str,
        list_kind: str,
        values: dict[str, Value],
        unknown: dict[str, object] | None = None,
    ) -> None:
        self.manufacturer = manufacturer
        self.list_kind = list_kind
        self.values = values
        self.unknown: dict[str, object] = {} if unknown is None else unknown


class _Object:
    __slots__ = ("obis", "scaler", "unit", "value")

    def __init__(
        self, obis: bytes, value: AxdrValue, scaler: int | None = None, unit: int | None = None
    ) -> None:
        self.obis = obis
        self.value = value
        self.scaler = scaler
        self.unit = unit


def manufacturer_from_id(text: str) -> str | None:
    """Manufacturer named by a FLAG id at the start of ``text`` (or after one digit)."""
    for start in (0, 1):
        name = _MANUFACTURER_BY_FLAG_ID.get(text[start : start + 3].upper())
        if name:
            return name
    return None


def text_decisions(key: str, text: str) -> tuple[object, ...]:
    """What the mapping below decides from the identity text ``text`` of field ``key``: a
    compiled template holds for any text with the same decisions."""
    if key == "list_version":
        return (_MANUFACTURER_BY_LIST_ID.get(text),)
    if key in ("meter_id", "logical_device_name"):
        return (manufacturer_from_id(text),)
    if key == "meter_type":
        return (kamstrup.energy_exponent(text), kamstrup.current_exponent(text))
    return (text,)  # a text the mapping has no rule for stays what it was


def manufacturer_from_source(address: bytes) -> str | None:
    """Manufacturer that sends from this HDLC source address, where only one does."""
    return _MANUFACTURER_BY_SOURCE.get(address)


def _is_obis(value: AxdrValue) -> bool:
    # Six bytes that look like an OBIS code of a HAN list: abstract (A=0) or electricity (A=1)
    # objects, current value (F=255). A 6-character meter type (Kaifa "MA105H") is not one.
    return isinstance(value, bytes) and len(value) == 6 and value[0] <= 1 and value[5] == 0xFF


def _scaler_unit(value: AxdrValue) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2:
        scaler, unit = value
        if isinstance(scaler, int) and isinstance(unit, int) and not isinstance(scaler, bool):
            return scaler, unit
    return None


def _walk(items: list[AxdrValue], objects: list[_Object], untagged: list[AxdrValue]) -> None:
    count = len(items)
    i = 0
    while i < count:
        item = items[i]
        if _is_obis(item) and i + 1 < count:
            assert isinstance(item, bytes)
            value = items[i + 1]
            pair = _scaler_unit(items[i + 2]) if i + 2 < count else None
            if pair is not None:
                objects.append(_Object(item, value, *pair))
                i += 3
            else:
                objects.append(_Object(item, value))
                i += 2
        elif item is None and i + 1 < count and items[i + 1] is None:
            i += 2  # a 1-phase Kamstrup's null OBIS + null value placeholder
        elif isinstance(item, list) and item and _is_obis(item[0]) and len(item) in (2, 3):
            _walk(item, objects, untagged)
            i += 1
        elif item is not None:
            untagged.append(item)
            i += 1
        else:
            i += 1


def _text(value: AxdrValue) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        return value.rstrip("\x00 ").strip()
    return None


def _printable(value: AxdrValue) -> bool:
    return isinstance(value, str) or (
        isinstance(value, bytes)
        and bool(value)
        and all(32 <= b < 127 for b in value.rstrip(b"\x00"))
    )


def _plain(value: AxdrValue) -> object:
    """A JSON-friendly rendering of a raw value for ``unknown``."""
    if isinstance(value, bytes):
        return _text(value) if _printable(value) else value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _scaled(raw: int | float, exponent: int) -> int | float:
    # Division by a power of ten is correctly rounded, so 581 × 10⁻² prints as 5.81.
    if exponent == 0:
        return raw
    scale: int = 10 ** abs(exponent)
    return raw * scale if exponent > 0 else raw / scale


def _clock_fields(raw: AxdrValue, values: dict[str, Value]) -> bool:
    if not isinstance(raw, bytes):
        return False
    clock = parse_datetime(raw)
    if clock is None:
        return False
    values["meter_clock"] = clock.iso()
    values["meter_clock_deviation_min"] = clock.deviation_min
    values["meter_clock_status"] = clock.status_text()
    return True


class _Scaling:
    """Chooses the decimal exponent of each register: override, then frame, then brand default."""

    def __init__(
        self, manufacturer: str, meter_type: str | None, overrides: ScalerOverride | None
    ) -> None:
        self.manufacturer = manufacturer
        self.defaults = dict(_DEFAULT_EXPONENTS.get(manufacturer, {}))
        self.overrides = overrides.as_dict() if overrides else {}
        if manufacturer == "Kamstrup":
            energy = kamstrup.energy_exponent(meter_type)
            if energy is not None:
                self.defaults[Quantity.ENERGY] = energy
            self.defaults[Quantity.CURRENT] = kamstrup.current_exponent(meter_type)

    def exponent(self, quantity: str, inline: int | None, raw: int | float) -> int | None:
        override = self.overrides.get(_OVERRIDE_FIELD[quantity])
        if override is not None:
            return override
        if inline is not None:
            return inline
        if self.manufacturer == "Kamstrup" and quantity == Quantity.VOLTAGE:
            return kamstrup.voltage_exponent(raw)
        return self.defaults.get(quantity)


def _kamstrup_ct_without_type(objects: list[_Object]) -> bool:
    """A Kamstrup list without a meter type (Danish "DLMS push 1") from a CT meter?

    Its currents are mA, not 0.01 A. The list gives no type number, so compare Σ U·I at 0.01 A
    with the apparent power from P and Q: ten times too much means mA. Only decided when the
    load is large enough for the comparison to mean something.
    """
    by_code = {obj.obis[2:5]: obj.value for obj in objects}

    def number(c: int) -> float:
        value = by_code.get(bytes((c, 7, 0)))
        return float(value) if isinstance(value, int | float) else 0.0

    apparent = math.hypot(number(1) + number(2), number(3) + number(4))
    volt_amps = sum(number(u) * number(i) / 100 for u, i in ((32, 31), (52, 51), (72, 71)))
    return apparent >= 1000 and volt_amps > 5 * apparent


def _list_kind(values: Mapping[str, Value], object_count: int) -> str:
    measured = [
        k
        for k in values
        if k.endswith(("_w", "_var", "_a", "_v", "_kwh", "_kvarh")) or k.startswith("power_factor")
    ]
    if measured == ["active_power_import_w"] and "meter_id" not in values:
        return "power-only"
    if object_count > 18 or any(
        k.endswith(("_l1_w", "_l1_var")) or k.startswith("power_factor") for k in values
    ):
        return "extended"
    if any(k.endswith(("_kwh", "_kvarh")) for k in values) or object_count > 13:
        return "hourly-with-energy"
    return "instantaneous"


def _measured(
    obj_value: AxdrValue, quantity: str, inline: int | None, scaling: _Scaling
) -> Value | None:
    if not isinstance(obj_value, int | float) or isinstance(obj_value, bool):
        return None
    exponent = scaling.exponent(quantity, inline, obj_value)
    if exponent is None:
        return None
    if quantity == Quantity.ENERGY:
        exponent -= 3  # Wh → kWh
    return _scaled(obj_value, exponent)


def _map_objects(
    objects: list[_Object],
    untagged: list[AxdrValue],
    hint: str | None,
    overrides: ScalerOverride | None,
) -> MappedList:
    values: dict[str, Value] = {}
    unknown: dict[str, object] = {}
    measured: list[tuple[_Object, str, str]] = []
    for obj in objects:
        code = (obj.obis[2], obj.obis[3], obj.obis[4])
        entry = OBJECTS.get(code)
        if entry is None or (code == CLOCK_CODE and obj.obis[0] != 0) or obj.value is None:
            if obj.value is not None:
                unknown[obis_text(obj.obis)] = _raw_with_scaler(obj)
            continue
        key, quantity = entry
        if quantity == Quantity.TEXT:
            text = _text(obj.value)
            if text is not None:
                values[key] = text
        elif quantity == Quantity.CLOCK:
            if not _clock_fields(obj.value, values):
                unknown[obis_text(obj.obis)] = _plain(obj.value)
        elif quantity == Quantity.NUMBER:
            values[key] = obj.value if isinstance(obj.value, int) else _text(obj.value)
        else:
            measured.append((obj, key, quantity))
    leftovers: list[object] = []
    for position, item in enumerate(untagged):
        if position == 0 and _printable(item) and "list_version" not in values:
            values["list_version"] = _text(item)
        elif (
            isinstance(item, bytes) and "meter_clock" not in values and _clock_fields(item, values)
        ):
            pass
        elif _printable(item) and "meter_id" not in values:
            values["meter_id"] = _text(item)
        else:
            leftovers.append(_plain(item))
    if leftovers:
        unknown[_NO_OBIS] = leftovers

    manufacturer = _identify(values, hint)
    meter_type = values.get("meter_type")
    scaling = _Scaling(manufacturer, meter_type if isinstance(meter_type, str) else None, overrides)
    if manufacturer == "Kamstrup" and meter_type is None and _kamstrup_ct_without_type(objects):
        scaling.defaults[Quantity.CURRENT] = -3
    for obj, key, quantity in measured:
        value = _measured(obj.value, quantity, obj.scaler, scaling)
        if value is None:
            unknown[obis_text(obj.obis)] = _raw_with_scaler(obj)
        else:
            values[key] = value
    return MappedList(manufacturer, _list_kind(values, len(objects)), values, unknown)


def _raw_with_scaler(obj: _Object) -> object:
    if obj.scaler is None:
        return _plain(obj.value)
    unit = UNITS.get(obj.unit, obj.unit) if obj.unit is not None else None
    return {"value": _plain(obj.value), "scaler": obj.scaler, "unit": unit}


def _identify(values: Mapping[str, Value], hint: str | None) -> str:
    list_id = values.get("list_version")
    if isinstance(list_id, str) and list_id in _MANUFACTURER_BY_LIST_ID:
        return _MANUFACTURER_BY_LIST_ID[list_id]
    if hint:
        return hint
    for key in ("meter_id", "logical_device_name"):
        text = values.get(key)
        if isinstance(text, str) and (name := manufacturer_from_id(text)):
            return name
    return "unknown"


def _map_positional(
    items: list[AxdrValue], hint: str | None, overrides: ScalerOverride | None
) -> MappedList:
    first = _text(items[0]) if items and _printable(items[0]) else None
    rows = kaifa.positional_layout(len(items))
    is_kaifa = first == kaifa.LIST_ID or (
        len(items) == 1 and isinstance(items[0], int) and hint in (None, "Kaifa")
    )
    if rows is None or not is_kaifa:
        manufacturer = hint or (manufacturer_from_id(first) if first else None) or "unknown"
        return MappedList(manufacturer, "other", {}, {_NO_OBIS: [_plain(v) for v in items]})
    scaling = _Scaling("Kaifa", None, overrides)
    values: dict[str, Value] = {}
    unknown: dict[str, object] = {}
    for row, raw in zip(rows, items, strict=True):
        _, quantity = OBJECTS[(row.obis[2], row.obis[3], row.obis[4])]
        if quantity == Quantity.TEXT:
            text = _text(raw)
            if text is not None:
                values[row.key] = text
        elif quantity == Quantity.CLOCK:
            if not _clock_fields(raw, values):
                unknown[obis_text(row.obis)] = _plain(raw)
        else:
            value = _measured(raw, quantity, None, scaling)
            if value is None:
                unknown[obis_text(row.obis)] = _plain(raw)
            else:
                values[row.key] = value
    return MappedList("Kaifa", _list_kind(values, len(items)), values, unknown)


#: COSEM interface classes whose attribute 2 is a value a HAN list reports (data, register,
#: extended register, clock)
_VALUE_CLASSES = {1, 3, 4, 8}


def _capture_objects(body: list[AxdrValue]) -> list[_Object] | None:
    """Objects of a body that opens with its own push-object list (L&G E450 and other
    push-setup lists): a descriptor {class, OBIS, attribute, index} for each element."""
    header = body[0]
    if not isinstance(header, list) or len(header) != len(body) or len(body) < 2:
        return None
    for descriptor in header:
        if not (
            isinstance(descriptor, list)
            and len(descriptor) == 4
            and isinstance(descriptor[0], int)
            and _is_obis(descriptor[1])
        ):
            return None
    objects = []
    for descriptor, value in zip(header, body, strict=True):
        assert isinstance(descriptor, list)
        class_id, obis, attribute, _ = descriptor
        if class_id in _VALUE_CLASSES and attribute == 2 and isinstance(obis, bytes):
            objects.append(_Object(obis, value))
    return objects


def map_body(
    body: AxdrValue, *, hint: str | None = None, overrides: ScalerOverride | None = None
) -> MappedList:
    """Map a notification body to contract fields. ``hint``: manufacturer known from the frame
    (addresses, system title) for lists that do not name it."""
    if not isinstance(body, list) or not body:
        raise UnknownListError("the notification body is not a non-empty structure or array")
    if _text(body[0]) == kaifa.LIST_ID and kaifa.positional_layout(len(body)) is not None:
        return _map_positional(body, hint, overrides)
    described = _capture_objects(body)
    if described is not None:
        return _map_objects(described, [], hint, overrides)
    objects: list[_Object] = []
    untagged: list[AxdrValue] = []
    _walk(body, objects, untagged)
    if objects:
        return _map_objects(objects, untagged, hint, overrides)
    return _map_positional(body, hint, overrides)
