"""Background jobs: order execution against the head-end, e-mail outbox, customer changes.

Each job does a capped amount of work per run and is safe to run again. The order runner
claims an order by moving its `next_attempt_at` forward before calling the head-end, so a
second runner (or a crash) never sends the same command twice at once.

Verification: the read-back of the ordered port state makes an order VERIFIED. An open then
waits up to `push_wait_s` for the meter's first push and completes either way (the timeline
says which). A completed open without a push gets a push watch (its own row, claimed like an
order but after them): the runner looks for the first push every `push_recheck_s` for
`push_watch_s`, and records it on the order and the port state when it comes, without
reopening the order. A completed order itself is never due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select, update

from hanport.portal.db.engine import begin_write
from hanport.portal.db.schema import (
    headend_commands,
    metering_points,
    meters,
    orders,
    port_states,
    push_watches,
)
from hanport.portal.domain import notes
from hanport.portal.domain.model import Action, PortState
from hanport.portal.domain.order_states import COMMAND_STATES, RUNNER_STATES, OrderEvent, OrderState
from hanport.portal.domain.port_states import PortEvent
from hanport.portal.domain.sla import OSLO, REGULATOR_WORKING_DAYS
from hanport.portal.services import access_requests, moves, notify, sessions
from hanport.portal.services.headend import (
    HeadEnd,
    HeadEndError,
    HeadEndUnavailable,
    PortReadback,
    PortValue,
    UnknownMeter,
)
from hanport.portal.services.lifecycle import (
    apply_event,
    complete_verified,
    contact_mail,
    moved_order,
)
from hanport.portal.services.port import move_port, port_of
from hanport.portal.services.tx import transaction, utcnow

__all__ = ["JobRunner", "JobSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSettings:
    max_attempts: int = 5  #: head-end attempts before escalation to customer service
    backoff_base_s: float = 30.0  #: first retry delay; doubles per attempt
    backoff_max_s: float = 1800.0
    poll_s: float = 2.0  #: read-back polling interval after a command
    push_wait_s: float = 30.0  #: how long to wait for a push after opening before completing
    push_recheck_s: float = 300.0  #: after completing without a push: how often to look again
    push_watch_s: float = 86400.0  #: …and for how long after the read-back
    lease_s: float = 60.0  #: how long a claimed order is held by one runner
    tick_s: float = 1.0  #: how long an idle runner sleeps before looking for due work again
    batch: int = 50  #: orders (or e-mails) claimed at a time
    #: full batches in one run before the other jobs get their turn; a backlog is then drained
    #: by the next run at once, without waiting for a tick
    batches_per_run: int = 20
    concurrency: int = 8  #: orders driven at the same time (head-end calls in flight)
    staff_email: str | None = None  #: customer service's shared mailbox, told of escalations
    access_request_expire_s: float = 14 * 86400.0  #: a pending access request expires then
    #: the deadline of the close after a customer change, in working days ([sla] working_days)
    sla_working_days: int = REGULATOR_WORKING_DAYS


class ReadbackMismatch(Exception):
    """The head-end accepted the command but the port reads back in the other state."""


def _claim(
    conn: Any,
    key: Any,
    due_at: Any,
    now: datetime,
    lease: datetime,
    limit: int,
    *where: Any,
) -> list[int]:
    """Move the due time of up to `limit` due rows forward to `lease`; the ones this runner got,
    oldest key first.

    One statement: the UPDATE checks the due time (and `where`) again on each row it changes,
    so two runners never both claim a row (PostgreSQL re-reads a row another runner changed
    meanwhile)."""
    due = select(key).where(due_at <= now, *where).order_by(due_at).limit(limit)
    claimed = conn.execute(
        update(key.table)
        .where(key.in_(due), due_at <= now, *where)
        .values({due_at.name: lease})
        .returning(key)
    ).scalars()
    return sorted(int(row_key) for row_key in claimed)


# a step's two reads, built once with their parameter `order_id`
_LOCK_ORDERS_POINT = (
    select(metering_points.c.id)
    .where(
        metering_points.c.id
        == select(orders.c.metering_point_id)
        .where(orders.c.id == bindparam("order_id"))
        .scalar_subquery()
    )
    .with_for_update()
)
_ORDER_AND_PORT = (
    select(orders, port_states.c.state.label("port_state"))
    .outerjoin(port_states, port_states.c.metering_point_id == orders.c.metering_point_id)
    .where(orders.c.id == bindparam("order_id"))
)


def _locked_order(conn: Any, order_id: int) -> Any:
    """The order, read after locking its metering point as intake does: a customer's new
    order for the point waits for this short transaction instead of finding the order changed
    under it (PostgreSQL row lock; SQLite already holds its write lock). With it, as
    `port_state`, the point's port as the lock keeps it (None: no row yet, a closed port)."""
    conn.execute(_LOCK_ORDERS_POINT, {"order_id": order_id}).first()
    return conn.execute(_ORDER_AND_PORT, {"order_id": order_id}).one()


class JobRunner:
    def __init__(
        self,
        engine: Engine,
        headend: HeadEnd,
        mailer: notify.Mailer | None,
        settings: JobSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.headend = headend
        self.mailer = mailer
        self.settings = settings or JobSettings()
        #: the runner's time; tests move it on instead of sleeping through waits and backoffs
        self.clock = clock
        self._sessions_purged_at: datetime | None = None

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(
            seconds=min(
                self.settings.backoff_max_s,
                self.settings.backoff_base_s * 2 ** max(0, attempts - 1),
            )
        )

    # -- orders ------------------------------------------------------------------------------
    def _claim_due(self, now: datetime, limit: int) -> list[Any]:
        """Due orders, then due push watches (their orders), each held for a lease: id, state,
        action and the meter's id, read in the claim's transaction. Each step decides again
        under the point's lock, so an order that moves on meanwhile is left alone there."""
        lease = now + timedelta(seconds=self.settings.lease_s)
        with begin_write(self.engine) as conn:
            # orders to carry out before completed opens watched for their first push: after
            # a backlog, the watch reads must not hold up new commands
            claimed = _claim(
                conn,
                orders.c.id,
                orders.c.next_attempt_at,
                now,
                lease,
                limit,
                orders.c.state.in_([state.value for state in RUNNER_STATES]),
            )
            if len(claimed) < limit:
                claimed += _claim(
                    conn,
                    push_watches.c.order_id,
                    push_watches.c.next_look_at,
                    now,
                    lease,
                    limit - len(claimed),
                )
            if not claimed:
                return []
            found = {
                row.id: row
                for row in conn.execute(
                    select(orders.c.id, orders.c.state, orders.c.action, meters.c.meter_id)
                    .join(meters, meters.c.id == orders.c.meter_id)
                    .where(orders.c.id.in_(claimed))
                )
            }
        # an order without its meter row cannot be driven; its lease runs out as after a failure
        return [found[order_id] for order_id in claimed if order_id in found]

    async def run_orders(self, limit: int | None = None) -> int:
        """Advance every due order by one step, a batch at a time while batches come back full
        (at most `batches_per_run`); returns how many were handled."""
        limit = limit or self.settings.batch
        handled = 0
        for _ in range(self.settings.batches_per_run):
            stepped = await self._run_order_batch(limit)
            handled += stepped
            if stepped < limit:
                break
        return handled

    async def _run_order_batch(self, limit: int) -> int:
        claimed = await asyncio.to_thread(self._claim_due, self.clock(), limit)
        # a slow head-end answer for one meter must not hold up the others
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def step(order: Any) -> None:
            async with gate:
                try:
                    await self._step(order)
                except Exception:
                    # keep the runner alive; the lease expires and the order is tried again
                    log.exception("order %s: step failed", order.id)

        await asyncio.gather(*(step(order) for order in claimed))
        return len(claimed)

    async def _step(self, order: Any) -> None:
        order_id, meter_id = int(order.id), str(order.meter_id)
        target: PortValue = "open" if order.action == Action.OPEN else "closed"
        state = OrderState(order.state)
        if state in COMMAND_STATES:
            try:
                readback: PortReadback | Exception = await self.headend.set_port(meter_id, target)
            except HeadEndError as exc:
                readback = exc
            await asyncio.to_thread(self._after_command, order_id, target, readback)
            return
        # every other claimed order is read back: after its command, while a verified open
        # waits for its first push, or (completed) under a push watch
        after = {
            OrderState.COMMAND_SENT: self._after_readback,
            OrderState.VERIFIED: self._after_push_check,
            OrderState.COMPLETED: self._after_push_watch,
        }.get(state)
        if after is None:
            return  # moved on since it was claimed (cancelled, escalated, …)
        try:
            readback = await self.headend.read_port(meter_id)
        except HeadEndError as exc:
            readback = exc
        await asyncio.to_thread(after, order_id, target, readback)

    def _log_command(
        self, conn: Any, order_id: int, op: str, now: datetime, result: PortReadback | Exception
    ) -> None:
        ok = not isinstance(result, Exception)
        detail = (
            f"port={result.port} pushes_since_change={result.pushes_since_change}"
            if isinstance(result, PortReadback)
            else str(result)
        )
        conn.execute(
            headend_commands.insert(),
            {"order_id": order_id, "op": op, "at": now, "ok": ok, "detail": detail[:500]},
        )

    def _after_command(self, order_id: int, target: str, result: PortReadback | Exception) -> None:
        with transaction(self.engine, self.clock()) as tx:
            order = _locked_order(tx.conn, order_id)
            if OrderState(order.state) not in COMMAND_STATES:
                return  # cancelled or overridden meanwhile
            self._log_command(tx.conn, order_id, f"set_{target}", tx.now, result)
            tx.audit(
                "system",
                "headend.set_port",
                "order",
                order_id,
                port=target,
                ok=not isinstance(result, Exception),
                detail=str(result)[:200],
            )
            if isinstance(result, PortReadback):
                apply_event(
                    tx,
                    order,
                    OrderEvent.COMMAND_OK,
                    "system",
                    note=notes.coded("command_accepted", port=result.port),
                    command_sent_at=tx.now,
                    next_attempt_at=tx.now + timedelta(seconds=self.settings.poll_s),
                )
                return
            self._failed_attempt(tx, order, result)

    def _failed_attempt(self, tx: Any, order: Any, error: Exception) -> None:
        """One failed attempt: back off and try again, or escalate after max_attempts."""
        attempts = order.attempts + 1
        if isinstance(error, UnknownMeter):
            cause = "meter_unknown_in_headend"
        elif isinstance(error, HeadEndUnavailable):
            cause = "meter_no_answer"
        elif isinstance(error, ReadbackMismatch):
            cause = "readback_mismatch"
        else:
            cause = "headend_error"
        state = OrderState(order.state)
        # after a command, a wrong port state is a mismatch, silence a missing answer
        readback_event = (
            OrderEvent.READBACK_MISMATCH
            if isinstance(error, ReadbackMismatch)
            else OrderEvent.READBACK_NO_ANSWER
        )
        if attempts >= self.settings.max_attempts or isinstance(error, UnknownMeter):
            if state is not OrderState.RETRYING:
                # record the failed attempt first, so the timeline shows it
                first = readback_event if state is OrderState.COMMAND_SENT else OrderEvent.NO_ANSWER
                note = notes.coded(
                    "attempt_failed", cause=cause, attempts=attempts, detail=str(error)[:200]
                )
                order = moved_order(tx, order, first, "system", note=note, attempts=attempts)
            apply_event(
                tx,
                order,
                OrderEvent.GIVE_UP,
                "system",
                note=notes.coded("gave_up", cause=cause, attempts=attempts),
                attempts=attempts,
                failure_cause=cause,
                next_attempt_at=None,
            )
            contact_mail(tx, order, "escalated")
            if self.settings.staff_email:
                notify.enqueue(
                    tx.conn,
                    tx.now,
                    self.settings.staff_email,
                    "case_escalated",
                    "both",
                    for_order=order.id,
                    order_id=order.id,
                    action=order.action,
                    mpid=order.metering_point_id,
                    reason=cause,
                    due=order.sla_due_at.astimezone(OSLO).date(),
                )
            return
        delay = self.backoff(attempts)
        event = readback_event if state is OrderState.COMMAND_SENT else OrderEvent.NO_ANSWER
        apply_event(
            tx,
            order,
            event,
            "system",
            note=notes.coded(
                "retry",
                cause=cause,
                attempts=attempts,
                next_s=round(delay.total_seconds()),
                detail=str(error)[:200],
            ),
            attempts=attempts,
            failure_cause=cause,
            next_attempt_at=tx.now + delay,
        )

    def _after_readback(self, order_id: int, target: str, result: PortReadback | Exception) -> None:
        with transaction(self.engine, self.clock()) as tx:
            order = _locked_order(tx.conn, order_id)
            if OrderState(order.state) is not OrderState.COMMAND_SENT:
                return
            self._log_command(tx.conn, order_id, "read_port", tx.now, result)
            if isinstance(result, Exception):
                tx.audit(
                    "system",
                    "headend.read_port",
                    "order",
                    order_id,
                    ok=False,
                    detail=str(result)[:200],
                )
                self._failed_attempt(tx, order, result)
                return
            if result.port != target:
                tx.audit(
                    "system",
                    "headend.read_port",
                    "order",
                    order_id,
                    ok=True,
                    port=result.port,
                    expected=target,
                )
                # the same backoff and escalation as a silent meter: a meter that keeps
                # reporting the wrong state must reach customer service, not loop for ever
                self._failed_attempt(
                    tx,
                    order,
                    ReadbackMismatch(f"read back {result.port}, expected {target}"),
                )
                return
            tx.audit(
                "system",
                "headend.read_port",
                "order",
                order_id,
                ok=True,
                port=result.port,
                pushes_since_change=result.pushes_since_change,
            )
            push_seen = target == "open" and result.pushes_since_change > 0
            pushes = result.pushes_since_change if target == "open" else None
            note = notes.coded("read_back", port=result.port, pushes=pushes)
            waits_for_push = target == "open" and not push_seen and self.settings.push_wait_s > 0
            verified = moved_order(
                tx,
                order,
                OrderEvent.READBACK_OK,
                "system",
                note=note,
                verified_at=tx.now,
                push_seen=push_seen,
                next_attempt_at=(
                    tx.now + timedelta(seconds=self.settings.poll_s) if waits_for_push else None
                ),
            )
            move_port(
                tx,
                order.metering_point_id,
                PortEvent.READ_OPEN if target == "open" else PortEvent.READ_CLOSED,
                order_id,
                push_seen=push_seen,
                current=port_of(order.port_state),
            )
            if not waits_for_push:
                self._complete(tx, verified, push_seen=push_seen)

    def _after_push_check(
        self, order_id: int, target: str, result: PortReadback | Exception
    ) -> None:
        """A verified open: confirm once the meter pushes, or without a push after the window."""
        with transaction(self.engine, self.clock()) as tx:
            order = _locked_order(tx.conn, order_id)
            if OrderState(order.state) is not OrderState.VERIFIED:
                return
            self._log_command(tx.conn, order_id, "read_port", tx.now, result)
            push_seen = (
                isinstance(result, PortReadback)
                and result.port == target
                and result.pushes_since_change > 0
            )
            waited = (tx.now - order.verified_at).total_seconds()
            if not push_seen and waited < self.settings.push_wait_s:
                tx.conn.execute(
                    update(orders)
                    .where(orders.c.id == order_id)
                    .values(next_attempt_at=tx.now + timedelta(seconds=self.settings.poll_s))
                )
                return
            if push_seen:
                order = self._record_push(tx, order)
            self._complete(tx, order, push_seen=push_seen)

    def _complete(self, tx: Any, order: Any, *, push_seen: bool) -> None:
        """VERIFIED → COMPLETED and the done notice; an open without a push gets a push watch."""
        if order.action == Action.CLOSE or push_seen:
            event = OrderEvent.CONFIRM
            note = notes.coded("done", push_seen=push_seen)
            look_again_at = None
        else:
            event = OrderEvent.CONFIRM_WITHOUT_PUSH
            note = notes.coded("no_push", wait_s=self.settings.push_wait_s)
            look_again_at = tx.now + timedelta(seconds=self.settings.push_recheck_s)
        complete_verified(tx, order, event, note, push_seen=push_seen, look_again_at=look_again_at)

    def _record_push(self, tx: Any, order: Any) -> Any:
        """The first push after an open: on the order and, if it still rules it, the port.
        Returns the order's row as it is now."""
        recorded = tx.conn.execute(
            update(orders)
            .where(orders.c.id == order.id)
            .values(push_seen=True, next_attempt_at=None, updated_at=tx.now)
            .returning(*orders.c)
        ).one()
        self._stop_watching(tx, order.id)
        tx.conn.execute(
            update(port_states)
            .where(
                port_states.c.metering_point_id == order.metering_point_id,
                port_states.c.last_order_id == order.id,
                port_states.c.state == PortState.OPEN.value,
            )
            .values(push_seen=True)
        )
        tx.audit(
            "system",
            "order.push_seen",
            "order",
            order.id,
            metering_point_id=order.metering_point_id,
            state=order.state,
        )
        return recorded

    def _after_push_watch(
        self, order_id: int, target: str, result: PortReadback | Exception
    ) -> None:
        """A completed open without a push: record a late first push, or look again later."""
        with transaction(self.engine, self.clock()) as tx:
            order = _locked_order(tx.conn, order_id)
            watch = tx.conn.execute(
                select(push_watches).where(push_watches.c.order_id == order_id)
            ).first()
            if watch is None or order.push_seen:
                return
            port = tx.conn.execute(
                select(port_states.c.state, port_states.c.last_order_id).where(
                    port_states.c.metering_point_id == order.metering_point_id
                )
            ).first()
            if port is None or port.last_order_id != order_id or port.state != PortState.OPEN:
                # a newer order rules the port now: this open's push no longer matters
                self._stop_watching(tx, order_id)
                return
            self._log_command(tx.conn, order_id, "read_port", tx.now, result)
            if (
                isinstance(result, PortReadback)
                and result.port == target
                and result.pushes_since_change > 0
            ):
                self._record_push(tx, order)
                return
            if (tx.now - watch.since).total_seconds() >= self.settings.push_watch_s:
                tx.audit(
                    "system",
                    "order.push_watch_ended",
                    "order",
                    order_id,
                    metering_point_id=order.metering_point_id,
                    watched_s=self.settings.push_watch_s,
                )
                self._stop_watching(tx, order_id)
                return
            tx.conn.execute(
                update(push_watches)
                .where(push_watches.c.order_id == order_id)
                .values(next_look_at=tx.now + timedelta(seconds=self.settings.push_recheck_s))
            )

    @staticmethod
    def _stop_watching(tx: Any, order_id: int) -> None:
        tx.conn.execute(delete(push_watches).where(push_watches.c.order_id == order_id))

    # -- others ------------------------------------------------------------------------------
    async def run_outbox(self) -> int:
        """Send due e-mails, a batch at a time while batches go out full."""
        if self.mailer is None:
            return 0
        sent = 0
        for _ in range(self.settings.batches_per_run):
            batch = await notify.send_pending(self.engine, self.mailer, self.settings.batch)
            sent += batch
            if batch < self.settings.batch:
                break
        return sent

    async def run_customer_changes(self) -> int:
        # a change is due from 00:00 Oslo time on its date: the close order is placed then
        now = self.clock()
        today = now.astimezone(OSLO).date()
        return await asyncio.to_thread(
            moves.apply_due_changes, self.engine, today, now, self.settings.sla_working_days
        )

    async def run_session_purge(self, now: datetime | None = None) -> int:
        """Delete ended sign-in sessions; a few times an hour is plenty."""
        now = now or self.clock()
        last = self._sessions_purged_at
        if last is not None and now - last < sessions.PURGE_INTERVAL:
            return 0
        self._sessions_purged_at = now
        return await asyncio.to_thread(sessions.purge_sessions, self.engine, now)

    async def run_once(self) -> bool:
        """One turn of every job; True when orders or e-mails may still be waiting."""
        await self.run_customer_changes()
        full = self.settings.batch * self.settings.batches_per_run
        backlog = await self.run_orders() >= full
        backlog |= await self.run_outbox() >= full
        await self.run_session_purge()
        await self.run_access_request_expiry()
        return backlog

    async def run_access_request_expiry(self) -> int:
        """Expire providers' access requests the customer left unanswered."""
        after = timedelta(seconds=self.settings.access_request_expire_s)
        return await asyncio.to_thread(access_requests.expire_due, self.engine, after, self.clock())

    async def run_forever(self) -> None:
        while True:
            try:
                backlog = await self.run_once()
            except Exception:
                log.exception("job run failed; trying again")
                backlog = False
            # a backlog is worked off at once; only an idle runner waits for the next tick
            await asyncio.sleep(0 if backlog else self.settings.tick_s)
