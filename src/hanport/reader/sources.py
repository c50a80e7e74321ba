"""Byte sources: serial (with baud/parity detection), TCP, MQTT raw frames and file replay.

Every live source reconnects with backoff, so a device that disappears and returns (an
unplugged USB adapter, a restarted ser2net or ESP bridge, a broker restart) is picked up again
without restarting the reader. Each source runs as its own task until cancelled.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import os
import string
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hanport.protocol import HanStream
from hanport.reader.pipeline import Hub, SourceFeed

__all__ = [
    "AUTO_CANDIDATES",
    "RECEIVE_MAXIMUM",
    "SERIAL_PRESETS",
    "SESSION_EXPIRY_S",
    "Backoff",
    "SerialSettings",
    "SourceError",
    "capture_chunks",
    "parse_serial_settings",
    "read_capture",
    "run_file",
    "run_mqtt",
    "run_serial",
    "run_tcp",
]


class SourceError(ValueError):
    """A source description or capture file that cannot be used."""


@dataclass(frozen=True, slots=True)
class SerialSettings:
    baudrate: int
    parity: str = "N"  # N | E | O
    bytesize: int = 8
    stopbits: int = 1

    @property
    def label(self) -> str:
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"


#: defaults by meter brand (docs/protocol.md §1): Kamstrup's HAN-NVE module deviates with 8N1
SERIAL_PRESETS: dict[str, SerialSettings] = {
    "kamstrup": SerialSettings(2400, "N"),
    "aidon": SerialSettings(2400, "E"),
    "kaifa": SerialSettings(2400, "E"),
    "sweden": SerialSettings(115200, "N"),
}
#: the order `--serial-settings auto` tries: M-Bus 8E1 first (two of three Norwegian brands)
AUTO_CANDIDATES: tuple[SerialSettings, ...] = (
    SerialSettings(2400, "E"),
    SerialSettings(2400, "N"),
    SerialSettings(115200, "N"),
)


def parse_serial_settings(text: str) -> SerialSettings | None:
    """``auto`` (None), a brand (``kamstrup``) or ``BAUD[-/ ]8N1`` → settings."""
    value = text.strip().lower()
    if value == "auto":
        return None
    if value in SERIAL_PRESETS:
        return SERIAL_PRESETS[value]
    parts = value.replace("-", " ").replace(",", " ").split()
    try:
        baud = int(parts[0])
        frame = parts[1] if len(parts) > 1 else "8n1"
        bytesize, parity, stopbits = int(frame[0]), frame[1].upper(), int(frame[2])
    except (IndexError, ValueError):
        raise SourceError(
            f"ukjent serieoppsett / unknown serial settings {text!r}: use auto, "
            f"{', '.join(SERIAL_PRESETS)} or e.g. 2400-8E1"
        ) from None
    if parity not in "NEO" or bytesize not in (7, 8) or stopbits not in (1, 2):
        raise SourceError(f"ukjent serieoppsett / unknown serial settings {text!r}")
    return SerialSettings(baud, parity, bytesize, stopbits)


class Backoff:
    """Reconnect delays: 0.5 s doubling up to ``maximum``; reset once data flows again."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def reset(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay


try:
    import termios

    _TERMIOS_ERRORS: tuple[type[BaseException], ...] = (termios.error,)
except ImportError:  # not POSIX
    _TERMIOS_ERRORS = ()
_SERIAL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    ValueError,
    *_TERMIOS_ERRORS,
)


async def _open_serial(path: str, settings: SerialSettings) -> tuple[Any, Any]:
    import serial_asyncio_fast  # pyserial-asyncio-fast; imported here, only serial needs it

    return await serial_asyncio_fast.open_serial_connection(
        url=path,
        baudrate=settings.baudrate,
        parity=settings.parity,
        bytesize=settings.bytesize,
        stopbits=settings.stopbits,
    )


def _close(writer: Any) -> None:
    with contextlib.suppress(Exception):
        writer.close()


async def _detect(
    path: str, feed: SourceFeed, per_candidate_s: float
) -> tuple[SerialSettings, bytes] | None:
    """Try each candidate until frames validate; returns it and the bytes read meanwhile."""
    for settings in AUTO_CANDIDATES:
        feed.status.detail = f"prøver / trying {settings.label}"
        try:
            reader, writer = await _open_serial(path, settings)
        except FileNotFoundError:
            raise
        except _SERIAL_ERRORS:
            continue  # the device refuses these settings (a pty has no parity): next one
        probe = HanStream()
        received = bytearray()
        deadline = time.monotonic() + per_candidate_s
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = await asyncio.wait_for(
                        reader.read(4096), max(0.05, deadline - time.monotonic())
                    )
                except TimeoutError:
                    break
                if not chunk:
                    raise ConnectionError("end of stream while detecting")
                received += chunk
                probe.feed(chunk)
                if probe.stats.frames_ok > 0:
                    return settings, bytes(received)
        finally:
            _close(writer)
    return None


async def run_serial(
    hub: Hub,
    path: str,
    settings: SerialSettings | None,
    *,
    detect_seconds: float = 25.0,
    log: Callable[[str], None] = print,
) -> None:
    """Read a serial port for ever; ``settings`` None detects baud and parity first."""
    status = hub.add_source(f"serial:{path}", "serial")
    feed = hub.feed_for(status)
    backoff = Backoff()
    chosen = settings
    while True:
        writer = None
        try:
            status.state = "connecting"
            leftover = b""
            if chosen is None:
                status.state = "detecting"
                found = await _detect(path, feed, detect_seconds)
                if found is None:
                    raise ConnectionError(
                        "fant ingen gyldige rammer / no valid frames with "
                        + ", ".join(c.label for c in AUTO_CANDIDATES)
                    )
                chosen, leftover = found
                log(f"{path}: fant / found {chosen.label}")
            reader, writer = await _open_serial(path, chosen)
            status.state = "connected"
            status.detail = chosen.label
            feed.reset()
            if leftover:
                feed.feed(leftover)
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    raise ConnectionError("end of stream")
                if feed.feed(chunk):
                    backoff.reset()
        except _SERIAL_ERRORS as exc:
            # a vanished device raises EIO or ENOENT; termios refuses settings with its own error
            delay = backoff.next()
            status.state = "retrying"
            status.detail = f"{exc} (nytt forsøk om / retry in {delay:.1f} s)"
            if settings is None and status.frames_ok == 0:
                chosen = None
            await asyncio.sleep(delay)
        finally:
            if writer is not None:
                _close(writer)


async def run_tcp(hub: Hub, host: str, port: int) -> None:
    """Read a TCP byte stream (ser2net, ESP bridge, ``hanport emulate --tcp``) for ever."""
    status = hub.add_source(f"tcp:{host}:{port}", "tcp")
    feed = hub.feed_for(status)
    backoff = Backoff()
    while True:
        writer = None
        try:
            status.state = "connecting"
            reader, writer = await asyncio.open_connection(host, port)
            status.state = "connected"
            status.detail = ""
            feed.reset()
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    raise ConnectionError("connection closed by peer")
                if feed.feed(chunk):
                    backoff.reset()
        except (OSError, ConnectionError) as exc:
            delay = backoff.next()
            status.state = "retrying"
            status.detail = f"{exc} (nytt forsøk om / retry in {delay:.1f} s)"
            await asyncio.sleep(delay)
        finally:
            if writer is not None:
                _close(writer)


_HEX_BYTES = frozenset(string.hexdigits.encode() + b" \t\r\n")


def _payload_bytes(payload: bytes) -> bytes:
    """MQTT payloads are the frame bytes or their hex text (as amshan's HA integration takes)."""
    stripped = payload.strip()
    if stripped and all(b in _HEX_BYTES for b in stripped):
        with contextlib.suppress(ValueError):
            return bytes.fromhex(stripped.decode("ascii"))
    return payload


#: QoS 1 messages the broker may have on the way to one durable reader before its acks
#: (MQTT 5 Receive Maximum): acks follow the commit, every flush interval, so this bounds the
#: rate (about 2 × this per second with 0.5 s flushes) and the memory of a reader
RECEIVE_MAXIMUM = 20_000
#: how long to wait for the broker's SUBACK (it queues behind the session's backlog)
SUBSCRIBE_TIMEOUT_S = 300.0
#: how long the broker keeps a durable reader's session (and the frames queued for it) while
#: the reader is away; Mosquitto caps it with persistent_client_expiration
SESSION_EXPIRY_S = 7 * 86_400


def _mqtt_client(
    host: str,
    port: int,
    *,
    username: str | None,
    password: str | None,
    client_id: str | None,
    receive_maximum: int,
) -> Any:
    import aiomqtt

    if client_id is None:
        return aiomqtt.Client(host, port, username=username, password=password)
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    properties.ReceiveMaximum = receive_maximum
    return aiomqtt.Client(
        host,
        port,
        username=username,
        password=password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,  # the session, its subscription and its queued frames survive us
        properties=properties,
    )


def _acker(paho: Any, pending: collections.deque[tuple[int, int, int]]) -> Callable[[int], None]:
    """The commit listener that acknowledges the messages ``(mark, mid, qos)`` committed."""

    def ack_committed(committed: int) -> None:
        # in receive order, as MQTT wants its PUBACKs
        while pending and pending[0][0] <= committed:
            _, mid, qos = pending.popleft()
            paho.ack(mid, qos)

    return ack_committed


async def run_mqtt(
    hub: Hub,
    host: str,
    port: int,
    topic: str = "hanport/raw/#",
    *,
    username: str | None = None,
    password: str | None = None,
    client_id: str | None = None,
    receive_maximum: int = RECEIVE_MAXIMUM,
) -> None:
    """Subscribe to raw frames (docs/CONTRACTS.md §3); one decoder per topic.

    ``topic`` may be a shared subscription, ``$share/<group>/hanport/raw/#``: the broker
    hands each message to one reader of the group (scale-out; each message must then hold
    whole frames). With ``client_id`` the session is durable: MQTT 5, clean start off, QoS 1,
    and a message is acknowledged only once the writer has committed what it carried
    (``hub.commits``), so a reader killed at any moment loses nothing: the broker redelivers
    the unacknowledged messages when the same client id comes back, and storage ignores what
    it already has.
    """
    import aiomqtt

    status = hub.add_source(f"mqtt:{host}:{port}/{topic}", "mqtt")
    feeds: dict[str, SourceFeed] = {}
    backoff = Backoff()
    commits = hub.commits if client_id is not None else None
    while True:
        pending: collections.deque[tuple[int, int, int]] = collections.deque()
        remove_listener: Callable[[], None] | None = None
        try:
            status.state = "connecting"
            client = _mqtt_client(
                host,
                port,
                username=username,
                password=password,
                client_id=client_id,
                receive_maximum=receive_maximum,
            )
            if commits is not None:
                # before connecting: a resumed session's messages come right after CONNACK.
                # aiomqtt 2.5 has no API for it yet (its issue #345): paho's, underneath
                paho = client._client
                paho.manual_ack_set(True)
                remove_listener = commits.on_commit(_acker(paho, pending))
            async with client:
                # a resumed session's backlog (up to Receive Maximum messages) comes before
                # the SUBACK, read one packet per loop turn: aiomqtt's 10 s would time out
                await client.subscribe(topic, qos=1, timeout=SUBSCRIBE_TIMEOUT_S)
                status.state = "connected"
                status.detail = ""
                backoff.reset()
                received = 0
                async for message in client.messages:
                    received += 1
                    if received % 64 == 0:
                        # a backlog (a resumed session, a burst) is in aiomqtt's queue and
                        # would never yield: let the writer's flush, acks and the API run
                        await asyncio.sleep(0)
                    name = str(message.topic)
                    feed = feeds.get(name)
                    if feed is None:
                        feed = feeds[name] = hub.feed_for(status)
                    payload = message.payload
                    if isinstance(payload, str):
                        payload = payload.encode()
                    if isinstance(payload, bytes | bytearray):
                        feed.feed(_payload_bytes(bytes(payload)))
                    if commits is not None and message.qos > 0:
                        pending.append((commits.mark(), message.mid, message.qos))
        except aiomqtt.MqttError as exc:
            delay = backoff.next()
            status.state = "retrying"
            status.detail = f"{exc} (nytt forsøk om / retry in {delay:.1f} s)"
            await asyncio.sleep(delay)
        finally:
            # unacknowledged messages come again on the next connection of this session
            if remove_listener is not None:
                remove_listener()


#: the start of a capture that decides whether it is hex text or raw bytes
_SNIFF = 65536
_WHITESPACE = bytes(string.whitespace, "ascii")
_HEX_TEXT = frozenset(_WHITESPACE + string.hexdigits.encode())


def read_capture(path: Path) -> bytes:
    """A whole capture file in memory (small files; see ``capture_chunks`` for large ones)."""
    return b"".join(capture_chunks(path))


def capture_chunks(
    path: Path,
    chunk_size: int = _SNIFF,
    progress: Callable[[float], None] | None = None,
) -> Iterator[bytes]:
    """A capture file as byte chunks, never all of it in memory: raw bytes, or hex text
    (whitespace and ``#`` comments allowed; decided by its first 64 KiB).

    ``progress`` gets the fraction of the file read after each chunk.
    """
    try:
        with path.open("rb") as file:
            size = max(1, os.fstat(file.fileno()).st_size)
            head = file.read(_SNIFF)
            blocks = itertools.chain([head], iter(functools.partial(file.read, chunk_size), b""))
            for chunk in _hex_blocks(blocks) if _is_hex_text(head) else blocks:
                if chunk:
                    yield chunk
                if progress:
                    progress(file.tell() / size)
    except OSError as exc:
        raise SourceError(f"kan ikke lese / cannot read {path}: {exc.strerror}") from exc


def _is_hex_text(head: bytes) -> bool:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return all(ch in string.hexdigits or ch.isspace() for line in lines for ch in line)


def _hex_blocks(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Hex text → bytes, block by block: a comment runs from ``#`` to the end of its line, and
    a byte's two digits may be split by whitespace, a line end or a block boundary."""
    in_comment = False
    odd = b""  # a digit whose partner is in the next block
    position = 0  # of the block in the file, for the error message
    for block in blocks:
        starts_in_comment = in_comment
        digits = []
        rest = block
        while rest:
            if in_comment:
                _, newline, rest = rest.partition(b"\n")
                in_comment = not newline
            else:
                body, hash_sign, rest = rest.partition(b"#")
                digits.append(body)
                in_comment = bool(hash_sign)
        text = odd + b"".join(digits).translate(None, _WHITESPACE)
        usable = len(text) - len(text) % 2
        try:
            decoded = bytes.fromhex(text[:usable].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            bad = position + _first_non_hex(block, starts_in_comment)
            raise SourceError(
                f"ikke heksadesimal tekst / not hexadecimal text at byte {bad}"
            ) from None
        odd = text[usable:]
        position += len(block)
        yield decoded
    if odd:
        raise SourceError(
            "heksteksten slutter med en halv byte / the hex text ends with half a byte"
        )


def _first_non_hex(block: bytes, in_comment: bool) -> int:
    for index, byte in enumerate(block):
        if in_comment:
            in_comment = byte != ord("\n")
        elif byte == ord("#"):
            in_comment = True
        elif byte not in _HEX_TEXT:
            return index
    return 0


async def run_file(hub: Hub, path: Path, *, speed: float | None = None) -> None:
    """Replay a capture: as fast as possible (``speed`` None) or at ``speed`` × recorded pace."""
    status = hub.add_source(f"file:{path}", "file")
    feed = hub.feed_for(status)
    status.state = "connected"
    started = time.monotonic()
    first_at: float | None = None
    chunk_size = 256 if speed else 65536
    for data in capture_chunks(path):
        for offset in range(0, len(data), chunk_size):
            pushes = feed.feed(data[offset : offset + chunk_size])
            if speed and pushes:
                first_at = pushes[0].at if first_at is None else first_at
                due = started + (pushes[-1].at - first_at) / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            else:
                await asyncio.sleep(0)  # let the writer and the API run between chunks
    feed.feed(b"")
    status.state = "done"
