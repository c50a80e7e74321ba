"""Group commit for the web: requests that arrive while one batch is written form the next.

An order that arrives alone is written at once; a burst costs a few transactions instead of one
per order, and one writer thread per process keeps the requests from queueing on each other's
database locks (the audit chain's head above all).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, select

from hanport.portal.db.schema import is_one_of, orders
from hanport.portal.services import queries
from hanport.portal.services.orders import Submission, submit_orders

__all__ = ["Batcher", "StoredOrder", "order_intake"]

#: at most this many turns of the event loop to gather what is already arriving
_GATHER_ROUNDS = 8

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
            # let requests the event loop is already handling join: a batch started for the
            # first of a burst would wait for the interpreter lock while the loop parses the
            # rest, and all of them would wait for it (A/B on bench/portal_load.py, 2 cores:
            # 9 of 9 bursts under 200 ms with these turns, 6 of 9 without)
            for _ in range(_GATHER_ROUNDS):
                waiting = len(self._queue)
                await asyncio.sleep(0)
                if len(self._queue) == waiting:
                    break
            # a caller that went away (client gone, cancelled) takes its item with it: an order
            # nobody waits for any more is not placed
            batch = [entry for entry in self._queue[: self._max_batch] if not entry[1].done()]
            del self._queue[: self._max_batch]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(
                    self._thread, self._work, [item for item, _ in batch]
                )
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} answers for {len(batch)} items")
            except Exception as exc:  # the batch failed as a whole: each caller hears why
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the request went away meanwhile
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An order just stored, read back with its timeline as its submitter may see it."""

    row: Any
    timeline: list[Any]


def order_intake(engine: Engine) -> Batcher[Submission, StoredOrder]:
    """Orders from the web pages and the API, stored in batches (see submit_orders) and read
    back in the same thread, in two queries a batch."""

    def store_and_read(batch: list[Submission]) -> list[StoredOrder | Exception]:
        results = submit_orders(engine, batch)
        stored = [
            (result, submission.actor.is_staff)
            for result, submission in zip(results, batch, strict=True)
            if not isinstance(result, Exception)
        ]
        if not stored:
            return [result for result in results if isinstance(result, Exception)]
        with engine.connect() as conn:
            found = conn.execute(
                select(orders).where(is_one_of(conn, orders.c.id, [i for i, _ in stored]))
            )
            rows = {row.id: row for row in found}
            events: dict[int, list[Any]] = {}
            for staff in {staff for _, staff in stored}:
                chosen = [order_id for order_id, of_staff in stored if of_staff == staff]
                # the same view of the timeline as the order page of this person
                events.update(queries.timelines(conn, chosen, staff=staff))
        return [
            result if isinstance(result, Exception) else StoredOrder(rows[result], events[result])
            for result in results
        ]

    return Batcher(store_and_read, name="order-intake")
