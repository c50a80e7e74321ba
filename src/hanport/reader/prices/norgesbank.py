"""Norges Bank's daily EUR/NOK rate from its SDMX-JSON reply, without I/O."""

from __future__ import annotations

import json
from bisect import bisect_right
from datetime import date
from typing import Any

__all__ = ["RateError", "parse_rates", "rate_on"]


class RateError(ValueError):
    """The reply holds no readable exchange rates."""


def parse_rates(body: bytes | str) -> dict[date, float]:
    """Business day -> EUR/NOK, from a ``format=sdmx-json`` reply of the EXR data flow."""
    try:
        data: Any = json.loads(body)
        structure = data["data"]["structure"]["dimensions"]["observation"]
        days = next(d for d in structure if d["id"] == "TIME_PERIOD")["values"]
        series = next(iter(data["data"]["dataSets"][0]["series"].values()))
        observations = series["observations"]
        return {
            date.fromisoformat(days[int(index)]["id"]): float(value[0])
            for index, value in observations.items()
        }
    except (ValueError, KeyError, IndexError, TypeError, StopIteration) as error:
        raise RateError(f"not an SDMX-JSON exchange-rate reply: {error!r}") from None


def rate_on(rates: dict[date, float], day: date) -> float:
    """The latest rate on or before ``day`` (no rate is fixed on weekends and holidays)."""
    days = sorted(rates)
    index = bisect_right(days, day)
    if index == 0:
        raise RateError(f"no EUR/NOK rate on or before {day.isoformat()}")
    return rates[days[index - 1]]
