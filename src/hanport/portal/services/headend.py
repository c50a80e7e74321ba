"""Head-end adapter: open and close the HAN port and read its state back — nothing else.

By design the interface has no breaker, load-limit or any other meter command
(kraftberedskapsforskriften § 6-10): the port service cannot disconnect anyone.
`HttpHeadEnd` drives the meter emulator's control interface (docs/CONTRACTS.md §2); a vendor
head-end gets its own class with the same two methods. `InMemoryHeadEnd` is the twin for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

import httpx

__all__ = [
    "HeadEnd",
    "HeadEndError",
    "HeadEndUnavailable",
    "HttpHeadEnd",
    "InMemoryHeadEnd",
    "PortReadback",
    "PortValue",
    "UnknownMeter",
]

PortValue = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class PortReadback:
    meter_id: str
    port: PortValue
    changed_at: str | None
    pushes_since_change: int


class HeadEndError(Exception):
    """The head-end refused the command or answered nonsense."""


class HeadEndUnavailable(HeadEndError):
    """No answer from the head-end or the meter (timeout, 503, connection refused): retry later."""


class UnknownMeter(HeadEndError):
    """The head-end does not know this meter: retrying will not help."""


class HeadEnd(Protocol):
    async def set_port(self, meter_id: str, port: PortValue) -> PortReadback: ...

    async def read_port(self, meter_id: str) -> PortReadback: ...


def _readback(meter_id: str, body: object) -> PortReadback:
    if not isinstance(body, dict) or body.get("port") not in ("open", "closed"):
        raise HeadEndError(f"head-end answered without a port state: {body!r:.200}")
    return PortReadback(
        meter_id=str(body.get("meter_id", meter_id)),
        port=body["port"],
        changed_at=body.get("changed_at"),
        pushes_since_change=int(body.get("pushes_since_change") or 0),
    )


class HttpHeadEnd:
    """The emulator's control interface over HTTP (CONTRACTS §2)."""

    def __init__(
        self, base_url: str, timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, meter_id: str, body: dict[str, str] | None) -> PortReadback:
        url = f"/api/meters/{meter_id}/port"
        try:
            response = await self._client.request(method, url, json=body)
        except httpx.TransportError as exc:
            raise HeadEndUnavailable(f"head-end not reachable: {exc!r}") from exc
        if response.status_code == 404:
            raise UnknownMeter(f"head-end does not know meter {meter_id}")
        if response.status_code in (502, 503, 504):
            raise HeadEndUnavailable(f"meter {meter_id} does not answer ({response.status_code})")
        if response.status_code != 200:
            raise HeadEndError(f"head-end answered {response.status_code}: {response.text[:200]}")
        try:
            return _readback(meter_id, response.json())
        except ValueError as exc:
            raise HeadEndError(f"head-end answered invalid JSON: {exc}") from exc

    async def set_port(self, meter_id: str, port: PortValue) -> PortReadback:
        return await self._call("PUT", meter_id, {"port": port})

    async def read_port(self, meter_id: str) -> PortReadback:
        return await self._call("GET", meter_id, None)


@dataclass
class InMemoryHeadEnd:
    """A fleet in memory: the twin used by unit tests and the no-emulator demo."""

    ports: dict[str, PortValue] = field(default_factory=dict)
    unresponsive: set[str] = field(default_factory=set)
    pushes_after_change: int = 1
    calls: list[tuple[str, str]] = field(default_factory=list)

    def _check(self, meter_id: str) -> None:
        if meter_id not in self.ports:
            raise UnknownMeter(meter_id)
        if meter_id in self.unresponsive:
            raise HeadEndUnavailable(f"meter {meter_id} does not answer")

    async def set_port(self, meter_id: str, port: PortValue) -> PortReadback:
        self.calls.append(("set", meter_id))
        self._check(meter_id)
        self.ports[meter_id] = port
        return await self.read_port(meter_id)

    async def read_port(self, meter_id: str) -> PortReadback:
        self.calls.append(("read", meter_id))
        self._check(meter_id)
        pushes = self.pushes_after_change if self.ports[meter_id] == "open" else 0
        return PortReadback(meter_id, self.ports[meter_id], datetime.now(UTC).isoformat(), pushes)
