"""HAN modules sent by post or picked up: the shipment's states. Rule: every move lives here."""

from __future__ import annotations

from enum import StrEnum

from hanport.portal.domain.model import ModuleOption

__all__ = ["SHIPMENT_TRANSITIONS", "HanConnection", "ShipmentState", "han_connection", "may_move"]


class ShipmentState(StrEnum):
    REQUESTED = "requested"  #: ordered with the open; nothing sent yet
    SHIPPED = "shipped"  #: in the post (a tracking reference may follow)
    DELIVERED = "delivered"  #: the post delivered it
    PICKED_UP = "picked_up"  #: the customer fetched it


S = ShipmentState

#: {method: {state: states it may move on to}}; staying in a state updates the tracking ref
SHIPMENT_TRANSITIONS: dict[ModuleOption, dict[ShipmentState, frozenset[ShipmentState]]] = {
    ModuleOption.POST: {
        S.REQUESTED: frozenset({S.SHIPPED}),
        S.SHIPPED: frozenset({S.DELIVERED}),
    },
    ModuleOption.PICKUP: {S.REQUESTED: frozenset({S.PICKED_UP})},
}


def may_move(method: ModuleOption, current: ShipmentState, new: ShipmentState) -> bool:
    """Whether a shipment sent by `method` may go from `current` to `new` (or stay)."""
    return new is current or new in SHIPMENT_TRANSITIONS.get(method, {}).get(current, frozenset())


class HanConnection(StrEnum):
    """Where the customer plugs the HAN reader in, by the meter's brand."""

    MODULE = "module"  #: Kamstrup: a HAN module in the meter's module slot carries the RJ45 jack
    BUILT_IN = "built_in"  #: Aidon, Kaifa: the RJ45 jack is on the meter itself
    UNKNOWN = "unknown"  #: brand not known: say both


def han_connection(manufacturer: str | None) -> HanConnection:
    """The meter's kind of HAN connection, from its manufacturer's name (any case)."""
    brand = (manufacturer or "").strip().lower()
    if brand.startswith("kamstrup"):
        return HanConnection.MODULE
    if brand.startswith(("aidon", "kaifa")):
        return HanConnection.BUILT_IN
    return HanConnection.UNKNOWN
