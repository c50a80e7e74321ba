"""The yardstick for bench/portal_load.py: one trivial Starlette endpoint behind the same server.

    .venv/bin/python bench/bare_starlette.py --port 8690 --workers 2

It answers every request the portal benchmark sends in the shape the portal answers it — 201
with an order id for an API order, 303 to the order page for a web-form order, 200 with a small
body for a read — without a database, templates or sign-in, so that the benchmark's client can
run the same schedule against it. uvicorn runs it as `hanport portal` runs the portal: the same
number of worker processes, the event loop and HTTP parser uvicorn picks by default (uvloop and
httptools when installed), proxy headers from 127.0.0.1 believed and warnings only logged. The
portal's latency divided by this one's is the portal's own cost on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


async def answer(request: Request) -> Response:
    if request.method == "GET":
        return JSONResponse({"path": request.url.path})
    await request.body()  # read what was sent, as the portal does
    if request.headers.get("content-type", "").startswith("application/json"):
        return JSONResponse({"id": 1}, status_code=201)
    return RedirectResponse("/orders/1", status_code=303)


app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    # the keyword arguments of `hanport portal`'s uvicorn.run (hanport/portal/cli.py)
    uvicorn.run(
        "bare_starlette:app",
        app_dir=str(Path(__file__).resolve().parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
