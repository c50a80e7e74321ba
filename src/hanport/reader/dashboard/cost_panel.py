"""What the Today page's cost card needs from the server: whether cost can be computed at all
(a grid tariff and a bidding zone are configured) and the cheapest hours ahead.

The cheapest hours come from the cached day-ahead prices for the rest of today and tomorrow,
counted from the reader's clock (the prices are real dates, not a fast meter's).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hanport.reader.api import ReaderContext
from hanport.reader.cost import cheapest_hours
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.prices.store import spot_prices

__all__ = ["CHEAPEST_COUNT", "cost_panel"]

#: how many of the cheapest hours ahead the page lists
CHEAPEST_COUNT: Final = 4


def _cheapest_ahead(reader: ReaderContext, zone: str) -> list[dict[str, Any]]:
    now = datetime.fromtimestamp(reader.clock(), LOCAL_TZ)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    day_after_tomorrow = (now + timedelta(days=2)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with reader.engine.connect() as conn:
        prices = spot_prices(
            conn, zone, this_hour.astimezone(UTC), day_after_tomorrow.astimezone(UTC)
        )
    return [
        {
            "start": datetime.fromtimestamp(start, LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
            "tomorrow": datetime.fromtimestamp(start, LOCAL_TZ).date() != now.date(),
            "nok_per_kwh": price,
        }
        for start, price in cheapest_hours(prices, this_hour, CHEAPEST_COUNT)
    ]


def cost_panel(reader: ReaderContext | None) -> dict[str, Any]:
    """Template context: ``cost_configured`` and ``cheapest`` (empty without cached prices)."""
    if reader is None or reader.cost_plan is None or not reader.prices_zone:
        return {"cost_configured": False, "cheapest": []}
    try:
        cheapest = _cheapest_ahead(reader, reader.prices_zone)
    except Exception:
        # a database down: the card says there are no prices rather than failing the page
        cheapest = []
    return {"cost_configured": True, "cheapest": cheapest}
