"""A source's frame rate is read by /api/health in an API worker thread while the event loop
keeps recording frames: the read must never fail (a fleet reader's health once answered 500)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from hanport.reader.pipeline import SourceStatus


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    # switch threads between almost every bytecode, so a race shows in a short run
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_frames_per_s_while_frames_keep_arriving() -> None:
    status = SourceStatus(name="mqtt:broker:1883/$share/fleet/hanport/raw/#", kind="mqtt")
    status._recent.extend(n / 1000 for n in range(600))  # a full window at 1,000 frames/s
    stop = threading.Event()

    def record_frames() -> None:
        n = 600
        while not stop.is_set():  # appends until the reads are done, however the OS schedules
            status._recent.append(n / 1000)  # as SourceFeed records them
            n += 1

    recorder = threading.Thread(target=record_frames)
    recorder.start()
    try:
        rates = [status.frames_per_s(now=status._recent[-1] + 0.001) for _ in range(2_000)]
    finally:
        stop.set()
        recorder.join()
    # now lies after the window's 600 arrivals, 1 ms apart: never under 1,000/s (arrivals
    # landing between reading now and the copy only shorten the span)
    assert all(rate >= 999 for rate in rates)
    assert status.frames_per_s(now=status._recent[-1] + 0.001) == pytest.approx(1000, rel=0.01)


def test_frames_per_s_of_a_meter_and_of_two_close_frames() -> None:
    meter = SourceStatus(name="serial:/dev/ttyUSB0", kind="serial")
    for n in range(30):  # an Aidon pushing every 2.5 s, read 1 s after its latest push
        meter._recent.append(1000 + 2.5 * n)
    assert meter.frames_per_s(now=1000 + 2.5 * 29 + 1) == pytest.approx(0.4, rel=0.05)
    burst = SourceStatus(name="tcp:bridge:2000", kind="tcp")
    burst._recent.extend([10.0, 10.001])  # not 2,000 frames/s: a second at least
    assert burst.frames_per_s(now=10.001) == 2.0
