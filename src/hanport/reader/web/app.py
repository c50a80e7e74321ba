"""``create_app``: composes the reader's web app from the API's routes and the dashboard.

Only composition lives here: the context on ``app.state``, the routers, the error answer. The
routes (:mod:`hanport.reader.web.routes`) and the dashboard (:mod:`hanport.reader.dashboard`)
both read through :mod:`hanport.reader.api` and never import this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from hanport import __version__
from hanport.reader.api import AnswerError, ReaderContext
from hanport.reader.dashboard import install as install_dashboard
from hanport.reader.web.routes import router

__all__ = ["create_app"]


#: API calls answered in threads at once. Their Python work holds the GIL, so more threads only
#: add contention: with anyio's default 40, 20 concurrent clients cost /api/now 0.95 ms CPU per
#: request against 0.57 ms for one (bench/reader_api.py). SQLite gets one: its driver lets go
#: of the GIL for every row it steps, so two threads reading rows hand the GIL back and forth
#: per row (250 context switches for a month of hours) and each request costs twice the CPU;
#: one thread answers 20 clients at the CPU of one. PostgreSQL's rows arrive whole, and the
#: second thread overlaps one request's wait for the server with another's Python work.
API_THREADS: Final = {"sqlite": 1}
API_THREADS_DEFAULT: Final = 2


def _few_threads(engine: Engine) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    threads = API_THREADS.get(engine.dialect.name, API_THREADS_DEFAULT)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    return lifespan


async def _unanswerable(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


def create_app(ctx: ReaderContext | Engine, *, dashboard: bool = True) -> FastAPI:
    """The reader's web app over ``ctx`` (an engine alone serves a stored database)."""
    context = ctx if isinstance(ctx, ReaderContext) else ReaderContext(engine=ctx)
    app = FastAPI(
        title="hanport reader",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        exception_handlers={AnswerError: _unanswerable},
        lifespan=_few_threads(context.engine),
    )
    app.state.reader = context
    app.include_router(router)
    if dashboard:
        install_dashboard(app)
    return app
