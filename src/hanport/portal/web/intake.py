"""Group commit for the web: requests that arrive while one batch is written form the next.

An order that arrives alone is written at once; a burst costs a few transactions instead of one
per order, and one writer thread per process keeps the requests from queueing on each other's
database locks (the audit chain's head above all).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from sqlalchemy import Engine

from hanport.portal.services.orders import Submission, submit_orders

__all__ = ["Batcher", "order_intake"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Calls `work` in its own thread with everything queued since the last call began.

    `work` answers each item in order with a result or the exception to raise for it.
    """

    def __init__(
        self,
        work: Callable[[list[Item]], Sequence[Result | Exception]],
        *,
        name: str,
        max_batch: int = 256,
    ) -> None:
        self._work = work
        self._max_batch = max_batch
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            items = [item for item, _ in batch]
            results: Sequence[Result | Exception]
            try:
                results = await loop.run_in_executor(self._thread, self._work, items)
            except Exception as exc:  # the batch failed as a whole: each caller hears why
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the request went away meanwhile
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def order_intake(engine: Engine) -> Batcher[Submission, int]:
    """Orders from the web pages and the API, stored in batches (see submit_orders)."""
    return Batcher(lambda batch: submit_orders(engine, batch), name="order-intake")
