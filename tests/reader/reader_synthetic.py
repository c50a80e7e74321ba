"""A deterministic synthetic Kamstrup meter for storage tests (no protocol encoding needed).

List 1 every 10 s with power; list 2 on the hour with the cumulative registers, which are the
exact integral of the same power (step-wise), so hourly register differences are known.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from hanport.reader.energy import local_iso
from hanport.reader.model import Push

METER_ID = "5706567274389702"


def power_w(t: float) -> float:
    """A daily profile with a peak in the evening and a slow drift between days."""
    hour = (t / 3600.0) % 24
    day = t // 86400
    return 800 + 2500 * max(0.0, math.sin((hour - 10) / 24 * 2 * math.pi)) + 150 * (day % 7)


def pushes(start: int, hours: int, *, meter_id: str = METER_ID, step: int = 10) -> Iterator[Push]:
    """Pushes from ``start`` (a whole hour) for ``hours`` hours, plus the closing hourly list."""
    energy_wh = 1_234_560.0
    t = start
    end = start + hours * 3600
    while t <= end:
        if t % 3600 == 0:
            yield Push(
                meter_id=meter_id,
                at=t + 5,
                received_at=t + 5,
                list_kind="hourly-with-energy",
                manufacturer="Kamstrup",
                values={
                    "meter_id": meter_id,
                    "meter_clock": local_iso(t),
                    "active_power_import_w": power_w(t),
                    "active_energy_import_kwh": round(energy_wh / 1000, 2),
                    "active_energy_export_kwh": 0.0,
                },
                register_hour=t,
            )
        if t == end:
            break
        p = power_w(t)
        yield Push(
            meter_id=meter_id,
            at=t,
            received_at=t,
            list_kind="instantaneous",
            manufacturer="Kamstrup",
            values={
                "meter_id": meter_id,
                "meter_type": "6841121BN243101040",
                "list_version": "Kamstrup_V0001",
                "active_power_import_w": p,
                "active_power_export_w": 0,
                "voltage_l1_v": 230,
            },
        )
        energy_wh += p * step / 3600
        t += step
