"""Running meters: simulated clock, outputs (pty, TCP, file) and the per-meter push loop.

Speed: ``speed`` simulated seconds pass per real second (1 = real time); ``None`` ("max") runs
as fast as the frames can be made and written. At a finite speed, stream outputs (pty, TCP) are
paced like the meter's 2400 baud line (8N1 = 10 bits a byte for Kamstrup, 8E1 = 11 for Aidon and
Kaifa), sped up by the same factor, so a reader sees bytes arrive as from a real port.

A closed port sends nothing, but the meter keeps measuring: the registers go on counting.

With a state store each meter checkpoints its registers and simulated time (:class:`MeterState`)
every :data:`CHECKPOINT_S` seconds of real time or :data:`CHECKPOINT_SIMULATED` of simulated time,
whichever comes first, while it runs, and once more when it stops, so a restarted emulator
continues its registers (never backwards) from at most that far behind; a process killed
outright repeats at most that much of its pushes after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from hanport.emulator.fleet import MeterConfig
from hanport.emulator.frames import FrameWriter
from hanport.emulator.load import OSLO, HouseholdLoad
from hanport.emulator.meter import BRANDS, MeterModel, MeterState, Push, Registers
from hanport.emulator.port import PortState, PortStatus, apply_command, command_for
from hanport.emulator.state import PortStateStore, StateFileError
from hanport.protocol import HanEncoder, Keys

__all__ = [
    "FileOutput",
    "MeterRuntime",
    "NullOutput",
    "Output",
    "PtyOutput",
    "SimClock",
    "TcpOutput",
    "build_runtime",
    "open_output",
    "resume_time",
    "run_meter",
]

_HOUR = timedelta(hours=1)
#: pushes made per worker-thread round trip at speed max
_BATCH = 4096
#: real seconds between two checkpoints of a running meter's registers and time
CHECKPOINT_S = 0.25
#: simulated time between two checkpoints at the most: at high speed 0.25 s of real time is many
#: simulated minutes, which a meter killed outright would push again (its clock going back)
CHECKPOINT_SIMULATED = timedelta(seconds=60)
#: frames an encrypted meter may make between two checkpoints, with a wide margin: a running
#: checkpoint saves its frame counter this far ahead, so a meter killed outright never reuses a
#: counter (an AES-GCM nonce) after its restart; an orderly stop saves the exact counter
FRAME_COUNTER_LEASE = 1 << 20
#: a TCP client this far behind is too slow to be a serial port's listener
_MAX_CLIENT_BACKLOG = 1 << 20


class SimClock:
    """Simulated time: ``start`` plus ``speed`` x the real time since :meth:`begin`.

    Kept in UTC: adding a timedelta to a local (Oslo) time adds wall-clock time, which is an
    hour off across a daylight-saving change; elapsed time is only right in UTC.
    """

    def __init__(
        self,
        start: datetime,
        speed: float | None,
        real_time: Callable[[], float] | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._t0: float | None = None
        #: seconds of real time; the event loop's by default, a test's own to step it on
        self._real_time = real_time
        #: at speed max, time is wherever the meters have got to
        self.reached = self.start

    def begin(self) -> None:
        self._t0 = self._real_now()

    def now(self) -> datetime:
        if self.speed is None or self._t0 is None:
            return self.reached
        elapsed = self._real_now() - self._t0
        return self.start + timedelta(seconds=elapsed * self.speed)

    async def sleep_until(self, at: datetime) -> None:
        if self.speed is None:
            self.reached = max(self.reached, at)
            return
        delay = (at - self.now()).total_seconds() / self.speed
        if delay > 0:
            await asyncio.sleep(delay)

    def _real_now(self) -> float:
        if self._real_time is not None:
            return self._real_time()
        return asyncio.get_running_loop().time()


# -- outputs -----------------------------------------------------------------------------------


class Output:
    """Where a meter's bytes go. ``send`` returns at once at a finite speed (bytes are paced
    by a pump task) and after the bytes are written at speed max (back-pressure)."""

    address = "none"

    def __init__(self, bytes_per_second: float | None) -> None:
        self.bytes_per_second = bytes_per_second
        self.dropped_bytes = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._pump_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.bytes_per_second is not None:
            self._pump_task = asyncio.create_task(self._pump())

    async def send(self, data: bytes) -> None:
        if self.bytes_per_second is None:
            await self._write(data, wait=True)
        else:
            self._queue.put_nowait(data)

    async def _pump(self) -> None:
        assert self.bytes_per_second is not None
        loop = asyncio.get_running_loop()
        rate = self.bytes_per_second
        chunk = max(1, int(rate / 20))  # about 50 ms of line time per write
        due = loop.time()
        while True:
            data = await self._queue.get()
            due = max(due, loop.time())
            for i in range(0, len(data), chunk):
                piece = data[i : i + chunk]
                await self._write(piece, wait=False)
                due += len(piece) / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def _write(self, data: bytes, *, wait: bool) -> None:
        """Write now; with ``wait`` block until it fits, else drop what does not fit."""

    async def drain(self) -> None:
        """Wait until every queued byte has gone out."""
        while not self._queue.empty() and self._pump_task is not None:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task


class NullOutput(Output):
    """No stream (a fleet meter that only the control interface is used for)."""

    def __init__(self) -> None:
        super().__init__(None)


class PtyOutput(Output):
    """A pseudo-terminal: a reader opens :attr:`address` with pyserial like /dev/ttyUSB0.

    The emulator keeps the slave side open too, so the device stays while readers come and go.
    Bytes nobody reads fill the terminal buffer; when it is full it is emptied and the bytes
    counted as dropped, as on a line nobody listens to (at speed max the emulator waits).
    """

    def __init__(self, bytes_per_second: float | None) -> None:
        super().__init__(bytes_per_second)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.address = os.ttyname(self._slave)

    async def _write(self, data: bytes, *, wait: bool) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                if not wait:
                    # Nobody is reading: throw away what waits in the terminal, as a line
                    # loses bytes nobody listens to, so a reader who comes later gets fresh
                    # frames rather than minutes-old ones.
                    termios.tcflush(self._slave, termios.TCIFLUSH)
                    self.dropped_bytes += len(view)
                    return
                await asyncio.sleep(0.005)
                continue
            view = view[written:]

    async def close(self) -> None:
        await super().close()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpOutput(Output):
    """A TCP server like ser2net or an ESP bridge: every connected client gets the stream."""

    def __init__(self, host: str, port: int, bytes_per_second: float | None) -> None:
        super().__init__(bytes_per_second)
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._client_tasks: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = f"tcp://{host}:{port}"
        await super().start()

    @property
    def client_count(self) -> int:
        """Clients connected now."""
        return len(self._clients)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._client_tasks.add(task)
        self._clients.add(writer)
        try:
            while await reader.read(1024):  # a meter port ignores what it is sent
                pass
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled only when the emulator stops: end quietly, as Python 3.11's stream
            # server logs a traceback for a client task that ends cancelled.
            pass
        finally:
            self._clients.discard(writer)
            writer.close()
            if task is not None:
                self._client_tasks.discard(task)

    async def _write(self, data: bytes, *, wait: bool) -> None:
        for writer in list(self._clients):
            if writer.is_closing():
                self._clients.discard(writer)
                continue
            if not wait and writer.transport.get_write_buffer_size() > _MAX_CLIENT_BACKLOG:
                self._clients.discard(writer)
                writer.close()
                continue
            writer.write(data)
            if wait:
                with contextlib.suppress(ConnectionError):
                    await writer.drain()

    async def close(self) -> None:
        await super().close()
        for writer in list(self._clients):
            writer.close()
        if self._client_tasks:
            # A closed connection ends its reader: let each client task finish on its own.
            await asyncio.wait(set(self._client_tasks), timeout=1.0)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class FileOutput(Output):
    """A capture file (``file:PATH``) or standard output (``-``): frames back to back."""

    def __init__(self, target: str, *, append: bool = False) -> None:
        super().__init__(None)
        self._file: BinaryIO
        if target == "-":
            self._file = sys.stdout.buffer
            self._owned = False
            self.address = "-"
        else:
            path = Path(target)
            # A meter resumed from its state goes on writing its capture, as it goes on counting.
            self._file = path.open("ab" if append else "wb")
            self._owned = True
            self.address = f"file:{path}"
        self.flush_each = True

    async def _write(self, data: bytes, *, wait: bool) -> None:
        self._file.write(data)
        if self.flush_each:
            self._file.flush()

    async def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()


def open_output(
    target: str, *, bits_per_char: int, speed: float | None, append: bool = False
) -> Output:
    """``pty`` | ``tcp://HOST:PORT`` | ``file:PATH`` | ``-`` | ``none``; ``append`` keeps what
    a ``file:`` capture holds."""
    rate = None if speed is None else 2400 / bits_per_char * speed
    if target == "pty":
        return PtyOutput(rate)
    if target.startswith("tcp://"):
        host, sep, port = target.removeprefix("tcp://").rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"{target!r}: write tcp://HOST:PORT (PORT 0 = any free port)")
        return TcpOutput(host.strip("[]"), int(port), rate)
    if target == "-" or target.startswith("file:"):
        output = FileOutput(target.removeprefix("file:"), append=append)
        output.flush_each = speed is not None
        return output
    if target == "none":
        return NullOutput()
    raise ValueError(f"unknown output {target!r}; use pty, tcp://HOST:PORT, file:PATH, - or none")


# -- a running meter ---------------------------------------------------------------------------


@dataclass
class MeterRuntime:
    """One meter in a running emulator: model, frames, port state, output and counters."""

    config: MeterConfig
    model: MeterModel
    writer: FrameWriter
    output: Output
    status: PortStatus
    clock: SimClock
    store: PortStateStore | None = None
    unresponsive: bool = False
    pushes: int = 0
    pushes_since_change: int = 0
    last_push_at: datetime | None = None
    #: the last push made, sent or withheld by a closed port (what a checkpoint resumes after)
    made_through: datetime | None = None
    #: held while a worker thread advances the model, so a checkpoint never sees half a step
    lock: threading.Lock = field(default_factory=threading.Lock)
    _batch_through: datetime | None = None
    _saved: MeterState | None = None
    _saved_at: float = 0.0
    _saved_through: datetime | None = None

    @property
    def meter_id(self) -> str:
        return self.config.meter_id

    def set_port(self, state: PortState, now: datetime) -> bool:
        """Open or close the port at simulated time ``now``; saved at once. True on a change."""
        new = apply_command(self.status, command_for(state), now)
        if new is self.status:
            return False
        if self.store is not None:
            self.store.save(new)
        self.status = new
        self.pushes_since_change = 0
        return True

    def checkpoint(self, *, final: bool = False) -> None:
        """Save the meter's state if due (every :data:`CHECKPOINT_S` of real time or
        :data:`CHECKPOINT_SIMULATED` of simulated time, whichever comes first) or ``final``.

        Call it only between pushes; the saved state resumes after :attr:`made_through`.
        """
        if self.store is None:
            return
        now = time.monotonic()
        through, saved_through = self.made_through, self._saved_through
        simulated_due = (
            through is not None
            and saved_through is not None
            and through - saved_through >= CHECKPOINT_SIMULATED
        )
        if not final and not simulated_due and now - self._saved_at < CHECKPOINT_S:
            return
        with self.lock:
            state = self.model.state(self.made_through)
            counter = self.writer.encoder.frame_counter
        if state is not None and self.writer.encoder.keys is not None:
            lease = 0 if final else FRAME_COUNTER_LEASE
            state = state._replace(frame_counter=min(counter + lease, 0xFFFFFFFF))
        if state is not None and (state != self._saved or final):
            if final:
                self.store.save_meter(self.meter_id, state, durable=True)
            else:
                self.store.stage_meter(self.meter_id, state)
            self._saved = state
        self._saved_at = now
        self._saved_through = through

    def _record(self, push: Push) -> None:
        self.pushes += 1
        self.pushes_since_change += 1
        self.last_push_at = push.at

    def meter_json(self) -> dict[str, object]:
        return {
            **self.announcement(),
            "last_push_at": _local_iso(self.last_push_at),
            "pushes": self.pushes,
        }

    def announcement(self) -> dict[str, object]:
        """What a parent process needs to find the meter's stream (the start-up JSON line)."""
        return {
            "meter_id": self.meter_id,
            "metering_point_id": self.config.metering_point_id,
            "manufacturer": self.model.spec.manufacturer,
            "meter_type": self.model.meter_type,
            "phases": self.model.phases,
            "port": self.status.state.value,
            "stream": self.output.address,
        }

    def port_json(self) -> dict[str, object]:
        return {
            **self.status.to_json(),
            "changed_at": _local_iso(self.status.changed_at),
            "last_push_at": _local_iso(self.last_push_at),
            "pushes_since_change": self.pushes_since_change,
        }

    def _batch(self, pushes: Iterator[Push], limit: int) -> tuple[list[bytes], bool]:
        """Up to ``limit`` pushes' frames (runs in a worker thread at speed max).

        :attr:`made_through` moves on only once the caller has sent the frames.
        """
        frames: list[bytes] = []
        append, frame, status = frames.append, self.writer.frame, self
        sent: Push | None = None
        last: Push | None = None
        done = True
        with self.lock:
            for last in pushes:
                # Read each time: the control interface may close the port during a batch.
                if status.status.state is PortState.OPEN:
                    append(frame(last))
                    sent = last
                limit -= 1
                if not limit:
                    done = False
                    break
        if sent is not None:
            self.pushes += len(frames)
            self.pushes_since_change += len(frames)
            self.last_push_at = sent.at
        if last is not None:
            self.clock.reached = self._batch_through = last.at
        return frames, done

    def _next(self, pushes: Iterator[Push]) -> Push | None:
        with self.lock:
            return next(pushes, None)


def _local_iso(at: datetime | None) -> str | None:
    """Norwegian local time with its offset: without it 02:30 on the autumn DST day is two
    different instants."""
    return at.astimezone(OSLO).isoformat() if at else None


def build_runtime(
    config: MeterConfig, clock: SimClock, store: PortStateStore | None
) -> MeterRuntime:
    """A meter ready to run: saved port state wins over the configured initial state."""
    spec = BRANDS[config.brand]
    rng = random.Random(f"registers:{config.seed}")
    import_units = rng.randrange(5_000_000, 60_000_000) // spec.energy_wh_per_unit
    initial = Registers(
        import_units,
        rng.randrange(0, 5_000_000) // spec.energy_wh_per_unit if config.prosumer else 0,
        import_units // 8,
        import_units // 40,
    )
    model = MeterModel(
        spec,
        HouseholdLoad(config.seed, phases=config.phases, prosumer=config.prosumer),
        phases=config.phases,
        three_wire=config.three_wire,
        hourly_offset_ms=None if config.list2_second is None else round(config.list2_second * 1000),
        initial_registers=initial,
    )
    keys = Keys(config.guek, config.gak) if config.guek is not None else None
    saved = store.load(config.meter_id) if store is not None else None
    status = saved or PortStatus(config.meter_id, config.port)
    meter_state = store.load_meter(config.meter_id) if store is not None else None
    encoder = HanEncoder(
        spec.manufacturer,
        phases=config.phases,
        meter_id=config.meter_id,
        meter_type=model.meter_type,
        three_wire=config.three_wire,
        keys=keys,
        system_title=config.system_title,
        # An encrypted meter's counter goes on across restarts: a counter used twice under
        # the same key is a reused AES-GCM nonce.
        frame_counter=meter_state.frame_counter if meter_state is not None else 0,
    )
    if meter_state is not None and store is not None:
        try:
            model.resume(meter_state)
        except ValueError as error:  # saved by a meter of another brand under this id
            raise StateFileError(
                f"{store.meter_path(config.meter_id)}: {error}; it was saved for another kind of "
                "meter: remove it to start from new registers / lagret for en annen målertype"
            ) from None
    output = open_output(
        config.output,
        bits_per_char=spec.bits_per_char,
        speed=clock.speed,
        append=meter_state is not None,
    )
    runtime = MeterRuntime(config, model, FrameWriter(model, encoder), output, status, clock, store)
    if meter_state is not None:
        runtime.made_through = runtime._batch_through = meter_state.pushed_through
    return runtime


def resume_time(store: PortStateStore, configs: list[MeterConfig]) -> datetime | None:
    """Where the simulated clock stopped: the latest push any of these meters made (UTC)."""
    reached: list[datetime] = []
    for config in configs:
        state = store.load_meter(config.meter_id)
        if state is not None:
            reached.append(state.pushed_through or state.integrated_to)
    return max(reached, default=None)


async def run_meter(runtime: MeterRuntime, end: datetime | None) -> None:
    """Push on schedule until ``end`` (None: forever), checkpointing the meter as it goes."""
    try:
        await _push_loop(runtime, end)
    finally:
        # Also when cancelled (Ctrl-C): a worker thread still advancing the model holds the
        # lock, so the final checkpoint waits for it and sees a whole step.
        runtime.checkpoint(final=True)


async def _push_loop(runtime: MeterRuntime, end: datetime | None) -> None:
    clock = runtime.clock
    pushes = runtime.model.pushes(clock.start, end)
    if clock.speed is None:
        done = False
        while not done:
            frames, done = await asyncio.to_thread(runtime._batch, pushes, _BATCH)
            if frames:
                await runtime.output.send(b"".join(frames))
            else:
                await asyncio.sleep(0)
            runtime.made_through = runtime._batch_through
            runtime.checkpoint()
        return
    silent = isinstance(runtime.output, NullOutput)
    slot = timedelta(milliseconds=runtime.model.spec.slot_ms)
    starts_an_hour = True
    while True:
        # An hour's load is computed when the hour starts: that call goes to a worker thread,
        # so a fleet's hundreds of meters do not stall each other's pushes or the control
        # interface at hh:00. The other pushes are cheap and made on the loop.
        if starts_an_hour:
            push = await asyncio.to_thread(runtime._next, pushes)
        else:
            push = next(pushes, None)
        if push is None:
            break
        starts_an_hour = push.at + slot >= push.hour + _HOUR if push.hour else True
        await clock.sleep_until(push.at)
        if runtime.status.state is PortState.OPEN:
            if not silent:
                await runtime.output.send(runtime.writer.frame(push))
            runtime._record(push)
        runtime.made_through = push.at
        runtime.checkpoint()
    await runtime.output.drain()


def announce_line(runtime: MeterRuntime) -> dict[str, object]:
    """What a parent process needs to find a meter's stream."""
    return runtime.announcement()
