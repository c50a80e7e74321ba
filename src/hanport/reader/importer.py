"""Backfill a capture file as fast as possible: decode, derive and store, then exit."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from hanport.protocol import Keys
from hanport.reader.pipeline import Hub
from hanport.reader.sources import capture_chunks
from hanport.reader.storage.writer import Writer

__all__ = ["ImportResult", "import_capture"]

#: bytes read and decoded at a time (about a thousand 10-second Kamstrup frames)
_CHUNK = 1 << 18
#: pushes written per transaction; at most two batches are in memory (one being written)
_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class ImportResult:
    frames_ok: int
    rejected: int
    readings_written: int
    seconds: float

    @property
    def frames_per_s(self) -> float:
        return self.frames_ok / self.seconds if self.seconds > 0 else 0.0


def import_capture(
    engine: Engine,
    path: Path,
    *,
    keys: Keys | None = None,
    store_raw_frames: bool = False,
    progress: Callable[[float], None] | None = None,
) -> ImportResult:
    """Import ``path`` (binary or hex capture) into ``engine``'s database.

    Raw frames are not stored by default: the capture file already is the raw record.
    Pushes are stamped with the meter's own time, so they land in the hours they belong to.
    """
    started = time.perf_counter()
    hub = Hub(keys=keys)
    writer = Writer(engine, store_raw_frames=store_raw_frames)
    hub.push_sinks.append(writer.add)
    hub.reject_sinks.append(writer.add_rejected)
    status = hub.add_source(f"file:{path}", "file")
    feed = hub.feed_for(status)
    # The capture is read chunk by chunk and written in bounded batches, so memory stays flat
    # however long the capture is. Writing overlaps decoding: the database driver releases
    # the GIL while it works, so on two cores the next chunks decode while the previous batch
    # is written. One flush at a time keeps the batches in order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer") as pool:
        flushing: Future[int] | None = None
        for chunk in capture_chunks(path, _CHUNK, progress):
            feed.feed(chunk, received_at=time.time())
            if writer.pending >= _BATCH:
                if flushing is not None:
                    flushing.result()
                flushing = pool.submit(writer.flush)
        feed.feed(b"", received_at=time.time())
        if flushing is not None:
            flushing.result()
    writer.flush(final=True)
    return ImportResult(
        frames_ok=status.frames_ok,
        rejected=status.crc_errors + status.undecodable + status.decrypt_errors,
        readings_written=writer.stats.readings_written,
        seconds=time.perf_counter() - started,
    )


def terminal_progress(label: str) -> Callable[[float], None] | None:
    """A one-line progress bar on stderr when it is a terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(fraction: float) -> None:
        width = 30
        filled = int(fraction * width)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {fraction:5.1%}")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
