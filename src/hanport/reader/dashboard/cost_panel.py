"""What the Today page's cost card needs from the server: whether cost can be computed at all
(a grid tariff and a bidding zone are configured) and the cheapest hours ahead
(``reader.api.cheapest_ahead``, from the cached day-ahead prices).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy.exc import SQLAlchemyError

from hanport.reader import api
from hanport.reader.api import ReaderContext

__all__ = ["CHEAPEST_COUNT", "cost_panel"]

log = logging.getLogger(__name__)

#: how many of the cheapest hours ahead the page lists
CHEAPEST_COUNT: Final = 4


def cost_panel(reader: ReaderContext | None) -> dict[str, Any]:
    """Template context: ``cost_configured`` and ``cheapest`` (empty without cached prices)."""
    if reader is None or reader.cost_plan is None or not reader.prices_zone:
        return {"cost_configured": False, "cheapest": []}
    try:
        cheapest = api.cheapest_ahead(reader, CHEAPEST_COUNT)
    except SQLAlchemyError as exc:
        # the database down: the card says there are no prices rather than failing the page;
        # the health page reports the database itself
        log.warning("cheapest hours not read: %s", exc)
        cheapest = []
    return {"cost_configured": True, "cheapest": cheapest}
