"""Helpers for the emulator tests: a meter model with its frame writer, and amshan decoding."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from han.autodecoder import AutoDecoder
from han.hdlc import HdlcFrameReader

from hanport.emulator.frames import FrameWriter
from hanport.emulator.load import HouseholdLoad
from hanport.emulator.meter import BRANDS, MeterModel
from hanport.protocol import HanEncoder

#: (brand, phases, three_wire): every kind of meter the emulator makes
METER_KINDS = [
    (brand, phases, three_wire)
    for brand in ("kamstrup", "aidon", "kaifa")
    for phases, three_wire in ((3, False), (3, True), (1, False))
]


@dataclass
class Meter:
    model: MeterModel
    encoder: HanEncoder
    writer: FrameWriter


MakeMeter = Callable[..., Meter]


@pytest.fixture
def make_meter() -> MakeMeter:
    def make(
        brand: str = "kamstrup",
        *,
        phases: int = 3,
        three_wire: bool = False,
        prosumer: bool = False,
        seed: int = 1,
        hourly_offset_ms: int | None = None,
    ) -> Meter:
        spec = BRANDS[brand]
        model = MeterModel(
            spec,
            HouseholdLoad(seed, phases=phases, prosumer=prosumer),
            phases=phases,
            three_wire=three_wire,
            hourly_offset_ms=hourly_offset_ms,
        )
        encoder = HanEncoder(
            spec.manufacturer,
            phases=phases,
            meter_id=spec.meter_id_prefix.ljust(16, "4"),
            meter_type=model.meter_type,
            three_wire=three_wire,
        )
        return Meter(model, encoder, FrameWriter(model, encoder))

    return make


def amshan_decode(frame: bytes) -> dict[str, object]:
    """amshan's reading of one frame: exactly one valid HDLC frame, decoded."""
    frames = HdlcFrameReader(False).read(frame)
    assert len(frames) == 1 and frames[0].is_good_ffc
    decoded = AutoDecoder().decode_message(frames[0])
    assert decoded is not None, frame.hex()
    return decoded


class Emulator:
    """A ``hanport emulate`` process and the JSON lines it announced on start."""

    def __init__(self, *args: str, meters: int = 1, control: bool = False) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hanport.cli", "emulate", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.meters: list[dict[str, object]] = []
        self.control_url = ""
        for _ in range(meters + (1 if control else 0)):
            line = self._line()
            if "control" in line:
                self.control_url = str(line["control"])
            else:
                self.meters.append(line)

    def _line(self, timeout: float = 15.0) -> dict[str, object]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.stop()
            raise AssertionError("the emulator announced nothing")
        line = self.process.stdout.readline()
        if not line:
            _, err = self.process.communicate(timeout=5)
            raise AssertionError(f"the emulator stopped: {err.decode()}")
        return json.loads(line)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return self.process.returncode


@pytest.fixture
def emulator() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def start(*args: str, meters: int = 1, control: bool = False) -> Emulator:
        process = Emulator(*args, meters=meters, control=control)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
