"""An ASGI app served by uvicorn on a free port, in a thread of its own, for browser tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from .ports import free_port
from .waiting import wait_for

__all__ = ["serve_in_thread"]


def serve_in_thread(app: Any, what: str = "server", port: int | None = None) -> Iterator[str]:
    """Yield the app's base URL while it is served; stop the server afterwards
    (``yield from serve_in_thread(app)`` inside a fixture). ``port`` when the URL had to be
    known before the app was made (an OIDC client's redirect URI); a free one otherwise."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    # its own loop in its own thread: Playwright's sync API owns this thread's loop
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=15, what=f"{what} started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
