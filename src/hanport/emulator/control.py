"""The emulator's control interface (docs/CONTRACTS.md §2): HTTP/JSON on loopback.

A head-end can list meters, read a port and open or close it — nothing else, by design. Tests
and the demo can also make a meter unresponsive (it then answers port requests with 503) and add
load on top of its profile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from hanport.emulator.port import PortState
from hanport.emulator.serve import MeterRuntime

__all__ = ["ControlServer", "create_app"]


class PortRequest(BaseModel):
    port: Literal["open", "closed"]


class FaultRequest(BaseModel):
    unresponsive: bool


class LoadRequest(BaseModel):
    extra_import_w: float = Field(ge=0, le=100_000)


def create_app(meters: Mapping[str, MeterRuntime]) -> FastAPI:
    app = FastAPI(
        title="hanport meter emulator", docs_url="/api/docs", openapi_url="/api/openapi.json"
    )

    def meter(meter_id: str) -> MeterRuntime:
        found = meters.get(meter_id)
        if found is None:
            raise HTTPException(
                404, f"no meter {meter_id} in this emulator / ingen måler {meter_id} her"
            )
        return found

    def answering(meter_id: str) -> MeterRuntime:
        found = meter(meter_id)
        if found.unresponsive:
            raise HTTPException(
                503, f"meter {meter_id} does not answer / måler {meter_id} svarer ikke"
            )
        return found

    @app.get("/api/meters")
    async def list_meters() -> list[dict[str, object]]:
        return [runtime.meter_json() for runtime in meters.values()]

    @app.get("/api/meters/{meter_id}")
    async def get_meter(meter_id: str) -> dict[str, object]:
        return meter(meter_id).meter_json()

    @app.get("/api/meters/{meter_id}/port")
    async def get_port(meter_id: str) -> dict[str, object]:
        return answering(meter_id).port_json()

    @app.put("/api/meters/{meter_id}/port")
    async def put_port(meter_id: str, request: PortRequest) -> dict[str, object]:
        runtime = answering(meter_id)
        # Saving the state touches the disk (fsync): keep it off the event loop.
        now = runtime.clock.now()
        await asyncio.to_thread(runtime.set_port, PortState(request.port), now)
        return runtime.port_json()

    @app.put("/api/meters/{meter_id}/fault")
    async def put_fault(meter_id: str, request: FaultRequest) -> dict[str, object]:
        runtime = meter(meter_id)
        runtime.unresponsive = request.unresponsive
        return {"meter_id": meter_id, "unresponsive": runtime.unresponsive}

    @app.put("/api/meters/{meter_id}/load")
    async def put_load(meter_id: str, request: LoadRequest) -> dict[str, object]:
        runtime = meter(meter_id)
        runtime.model.extra_import_w = request.extra_import_w
        return {"meter_id": meter_id, "extra_import_w": runtime.model.extra_import_w}

    return app


class ControlServer:
    """uvicorn serving :func:`create_app` inside the emulator's event loop."""

    def __init__(self, meters: Mapping[str, MeterRuntime], host: str, port: int) -> None:
        config = uvicorn.Config(
            create_app(meters), host=host, port=port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> str:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start (port in use, …)
                raise RuntimeError("the control interface stopped while starting")
            await asyncio.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    @property
    def task(self) -> asyncio.Task[None]:
        assert self._task is not None
        return self._task

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
