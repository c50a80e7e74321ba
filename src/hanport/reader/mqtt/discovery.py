"""Pure: entity table + meter → Home Assistant device-discovery topic and payload.

Device form (HA ≥ 2024.11): ``<prefix>/device/<id>/config`` with ``dev``, ``o`` and ``cmps``;
state and availability topics are shared by all components of the device. A device is available
while both the reader (its last will) and the meter (its readings not stale) are; HA's default
payloads ``online`` / ``offline`` apply to both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from hanport import __version__
from hanport.reader.mqtt.entities import ENTITIES, Entity

__all__ = [
    "availability_topic",
    "discovery_message",
    "meter_availability_topic",
    "object_id",
    "state_topic",
]

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def object_id(meter_id: str) -> str:
    return "hanport_" + _UNSAFE.sub("_", meter_id)


def state_topic(base: str, meter_id: str) -> str:
    return f"{base}/{_UNSAFE.sub('_', meter_id)}/state"


def availability_topic(base: str, client_id: str) -> str:
    """The reader's own availability: its MQTT last will."""
    return f"{base}/reader/{_UNSAFE.sub('_', client_id)}/availability"


def meter_availability_topic(base: str, meter_id: str) -> str:
    """A meter's availability: ``offline`` while its latest reading is stale."""
    return f"{base}/{_UNSAFE.sub('_', meter_id)}/availability"


def _value_template(entity: Entity) -> str:
    if entity.platform == "binary_sensor":
        return f"{{{{ 'ON' if value_json.get('{entity.key}') else 'OFF' }}}}"
    # "None" is HA MQTT's payload for unknown: a field the meter has not sent yet
    return f"{{{{ value_json.get('{entity.key}') }}}}"


def discovery_message(
    meter: dict[str, Any],
    *,
    base_topic: str = "hanport",
    discovery_prefix: str = "homeassistant",
    client_id: str = "hanport",
    language: str = "nb",
    entities: Sequence[Entity] = ENTITIES,
) -> tuple[str, dict[str, Any]]:
    """(topic, payload) announcing one meter and all its sensors."""
    meter_id = str(meter["meter_id"])
    oid = object_id(meter_id)
    manufacturer = meter.get("manufacturer") or None
    device: dict[str, Any] = {
        "ids": [oid],
        "name": f"{manufacturer or 'HAN'} {meter_id}",
        "sn": meter_id,
    }
    if manufacturer:
        device["mf"] = manufacturer
    if meter.get("meter_type"):
        device["mdl"] = meter["meter_type"]
    if meter.get("list_version"):
        device["sw"] = meter["list_version"]
    components: dict[str, dict[str, Any]] = {}
    for entity in entities:
        component: dict[str, Any] = {
            "p": entity.platform,
            "name": entity.name_nb if language == "nb" else entity.name_en,
            "unique_id": f"{_UNSAFE.sub('_', meter_id)}_{entity.key}",
            "value_template": _value_template(entity),
        }
        if entity.device_class:
            component["device_class"] = entity.device_class
        if entity.state_class:
            component["state_class"] = entity.state_class
        if entity.unit:
            component["unit_of_measurement"] = entity.unit
        if not entity.enabled_default:
            component["enabled_by_default"] = False
        if entity.diagnostic:
            component["entity_category"] = "diagnostic"
        components[f"{oid}_{entity.key}"] = component
    payload = {
        "dev": device,
        "o": {"name": "hanport", "sw": __version__},
        "cmps": components,
        "stat_t": state_topic(base_topic, meter_id),
        # unavailable when the reader is gone (its last will) or the meter has gone quiet
        "avty": [
            {"t": availability_topic(base_topic, client_id)},
            {"t": meter_availability_topic(base_topic, meter_id)},
        ],
        "avty_mode": "all",
        "qos": 1,
    }
    return f"{discovery_prefix}/device/{oid}/config", payload
