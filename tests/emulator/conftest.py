"""Helpers for the emulator tests: a meter model with its frame writer, and amshan decoding."""

from __future__ import annotations

from collections.abc import Callable
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
        return Meter(model, encoder, FrameWriter(model, encoder.encode))

    return make


def amshan_decode(frame: bytes) -> dict[str, object]:
    """amshan's reading of one frame: exactly one valid HDLC frame, decoded."""
    frames = HdlcFrameReader(False).read(frame)
    assert len(frames) == 1 and frames[0].is_good_ffc
    decoded = AutoDecoder().decode_message(frames[0])
    assert decoded is not None, frame.hex()
    return decoded
