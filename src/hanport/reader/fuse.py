"""Main-fuse headroom per phase: each phase's current against the fuse's rating, and a warning
when a phase stays above a share of it for a while (a motor's start-up spike is not a warning).

Pure bookkeeping on the meter's pushes; the caller gives the time (the meter's ``Push.at``), so
tests and fast replays need no real clock. A stale reading (see ``live.freshness``) warns of
nothing: the current it saw may be long gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PHASES", "FuseConfig", "FuseWatch", "flat_fuse_fields"]

PHASES = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class FuseConfig:
    """The main fuse's rating in amperes per phase, the share of it to warn at, and how long a
    phase must stay above that share before the warning turns on."""

    amps: float
    warn_share: float = 0.9
    warn_after_s: float = 60.0


@dataclass(slots=True)
class _Phases:
    # phase → meter time since when its current has stayed above the share (None: below)
    above_since: dict[int, float | None] = field(default_factory=dict)
    currents: dict[int, float] = field(default_factory=dict)
    at: float = 0.0


class FuseWatch:
    """Fed each push's phase currents; answers the ``fuse`` object of ``/api/now``."""

    def __init__(self, config: FuseConfig) -> None:
        self.config = config
        self._meters: dict[str, _Phases] = {}

    def observe(self, meter_id: str, at: float, values: dict[str, Any]) -> None:
        """Note the currents in ``values`` (``current_l1_a`` …) measured at meter time ``at``."""
        state = self._meters.setdefault(meter_id, _Phases())
        if at < state.at:
            return  # an older push arriving late does not move the clock back
        state.at = at
        limit = self.config.amps * self.config.warn_share
        for phase in PHASES:
            current = values.get(f"current_l{phase}_a")
            if not isinstance(current, int | float) or isinstance(current, bool):
                continue
            state.currents[phase] = float(current)
            if current > limit:
                if state.above_since.get(phase) is None:
                    state.above_since[phase] = at
            else:
                state.above_since[phase] = None

    def status(self, meter_id: str, *, stale: bool) -> dict[str, Any] | None:
        """Per phase: current, load share and headroom; ``warning`` when a phase has stayed
        above the share for ``warn_after_s`` (never from a stale reading). None: no currents."""
        state = self._meters.get(meter_id)
        if state is None or not state.currents:
            return None
        amps = self.config.amps
        phases = []
        for phase in sorted(state.currents):
            current = state.currents[phase]
            since = state.above_since.get(phase)
            over = since is not None and state.at - since >= self.config.warn_after_s
            phases.append(
                {
                    "phase": f"L{phase}",
                    "current_a": round(current, 2),
                    "load_pct": round(100.0 * current / amps, 1),
                    "headroom_a": round(amps - current, 2),
                    "above_s": None if since is None else round(state.at - since, 1),
                    "warning": over and not stale,
                }
            )
        return {
            "amps": amps,
            "warn_share": self.config.warn_share,
            "warn_after_s": self.config.warn_after_s,
            "phases": phases,
            "warning": any(p["warning"] for p in phases),
        }


def flat_fuse_fields(now: dict[str, Any]) -> dict[str, Any]:
    """The ``fuse`` object of a /api/now object as flat fields for MQTT's state JSON
    (``fuse_headroom_l1_a`` …, ``fuse_load_l1_pct`` …, ``fuse_warning``); empty without one."""
    fuse = now.get("fuse")
    if not isinstance(fuse, dict):
        return {}
    fields: dict[str, Any] = {"fuse_warning": bool(fuse.get("warning"))}
    for phase in fuse.get("phases", []):
        n = str(phase["phase"]).lower()
        fields[f"fuse_headroom_{n}_a"] = phase["headroom_a"]
        fields[f"fuse_load_{n}_pct"] = phase["load_pct"]
    return fields
