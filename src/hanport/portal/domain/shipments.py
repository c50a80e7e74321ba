"""HAN modules sent by post or picked up: the shipment's states, where a module goes (a delivery
address or a pick-up place). Rule: every move lives here."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hanport.portal.domain.model import ModuleOption

__all__ = [
    "DEMO_PICKUP_PLACES",
    "PLACE_KEY_MAX",
    "PLACE_KEY_PATTERN",
    "POSTCODE_PATTERN",
    "SHIPMENT_TRANSITIONS",
    "DeliveryAddress",
    "HanConnection",
    "PickupPlace",
    "ShipmentState",
    "delivery_of",
    "han_connection",
    "may_move",
    "place_key",
    "states_from",
]

#: a Norwegian postcode: four digits
POSTCODE_PATTERN = r"^[0-9]{4}$"
#: a pick-up place's key (the API's `pickup_place`): its name in lower-case ASCII and dashes
PLACE_KEY_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
PLACE_KEY_MAX = 64
_LATIN = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ß": "ss"})


def place_key(name: str) -> str:
    """A pick-up place's key from its name: "Fjordnett lager Florø" -> fjordnett-lager-floro."""
    ascii_ = unicodedata.normalize("NFKD", name.lower().translate(_LATIN))
    ascii_ = ascii_.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:PLACE_KEY_MAX].strip("-")


@dataclass(frozen=True, slots=True)
class PickupPlace:
    """Where a customer may pick up the HAN module, and when it is open (the company's words).

    `opening_hours` is shown in every language unless the place gives its hours per language
    (then it is the bokmål text, `opening_hours_en` the English and `opening_hours_nn` the
    nynorsk one, which falls back to bokmål)."""

    name: str
    address: str
    opening_hours: str
    opening_hours_nn: str = ""
    opening_hours_en: str = ""

    @property
    def key(self) -> str:
        return place_key(self.name)

    def hours(self, lang: str) -> str:
        """The opening hours for a reader of `lang` (nb, nn, en)."""
        if lang == "en" and self.opening_hours_en:
            return self.opening_hours_en
        if lang == "nn" and self.opening_hours_nn:
            return self.opening_hours_nn
        return self.opening_hours

    def hours_by_lang(self) -> dict[str, str]:
        """The hours in each language, as stored with a shipment (the place may change later)."""
        return {lang: self.hours(lang) for lang in ("nb", "nn", "en")}


#: the demo grid area's places, used when the configuration names none ([[pickup.places]])
DEMO_PICKUP_PLACES: tuple[PickupPlace, ...] = (
    PickupPlace(
        "Demo nett kundesenter",
        "Hafstadvegen 10, 6800 Førde",
        "man–fre 08–16",
        "mån–fre 08–16",
        "Mon–Fri 08–16",
    ),
    PickupPlace("Demo nett lager Florø", "Industrivegen 4, 6900 Florø", "10:00–14:00"),
)


@dataclass(frozen=True, slots=True)
class DeliveryAddress:
    """Where the post takes the module: by default the installation's address."""

    street: str
    postcode: str
    city: str

    def one_line(self) -> str:
        return f"{self.street}, {self.postcode} {self.city}"


class ShipmentState(StrEnum):
    REQUESTED = "requested"  #: ordered with the open; nothing sent yet
    SHIPPED = "shipped"  #: in the post (a tracking reference may follow)
    DELIVERED = "delivered"  #: the post delivered it
    READY = "ready"  #: waiting at the pick-up place (customer service marks it)
    PICKED_UP = "picked_up"  #: the customer fetched it


S = ShipmentState

#: {method: {state: states it may move on to}}; staying in a state updates the tracking ref
SHIPMENT_TRANSITIONS: dict[ModuleOption, dict[ShipmentState, frozenset[ShipmentState]]] = {
    ModuleOption.POST: {
        S.REQUESTED: frozenset({S.SHIPPED}),
        S.SHIPPED: frozenset({S.DELIVERED}),
    },
    # "ready" may be skipped: a module handed over at once is simply picked up
    ModuleOption.PICKUP: {
        S.REQUESTED: frozenset({S.READY, S.PICKED_UP}),
        S.READY: frozenset({S.PICKED_UP}),
    },
}


def may_move(method: ModuleOption, current: ShipmentState, new: ShipmentState) -> bool:
    """Whether a shipment sent by `method` may go from `current` to `new` (or stay)."""
    return new is current or new in SHIPMENT_TRANSITIONS.get(method, {}).get(current, frozenset())


def states_from(method: ModuleOption, current: ShipmentState) -> list[ShipmentState]:
    """The states customer service may choose for the shipment now: where it is, then on."""
    return [s for s in ShipmentState if may_move(method, current, s)]


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


def delivery_of(shipment: Any) -> dict[str, Any] | None:
    """Where a stored shipment (a `shipments` row) goes, for pages, mails and the API: by post
    `address` (one line); to pick up `place`, `place_address` and `hours` ({"nb", "nn", "en"}).
    None without a shipment; {} for one ordered before the address or place was kept."""
    if shipment is None:
        return None
    if shipment.method == ModuleOption.POST.value:
        if not shipment.address_street:
            return {}
        address = DeliveryAddress(
            shipment.address_street, shipment.address_postcode, shipment.address_city
        )
        return {"address": address.one_line()}
    if not shipment.place_name:
        return {}
    hours = json.loads(shipment.place_hours or "{}")
    return {
        "place": shipment.place_name,
        "place_address": shipment.place_address or "",
        "hours": {lang: hours.get(lang) or hours.get("nb", "") for lang in ("nb", "nn", "en")},
    }
