"""HanStream: any chunking, garbage and corruption; never an exception, never a bad reading."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanport.protocol import (
    NEED_DATA,
    ApduDecoder,
    FrameRejected,
    HanEncoder,
    HanStream,
    Keys,
    Reading,
)

from .strategies import meter_messages
from .test_template import fleet_frames


def _samples() -> list[dict]:
    from services.samples import han_samples_path, load_han_samples

    return load_han_samples(han_samples_path()) if han_samples_path().is_dir() else []


settings.register_profile("hanport", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hanport")


def _frames(messages: list[tuple]) -> list[bytes]:
    out = []
    for manufacturer, phases, three_wire, list_kind, values, when in messages:
        encoder = HanEncoder(
            manufacturer,
            meter_id="5706567274389702",
            meter_type="6841121BN243101040",
            phases=phases,
            three_wire=three_wire,
        )
        out.append(encoder.encode(list_kind, values, when))
    return out


def _decode_all(
    data: bytes, cuts: list[int]
) -> tuple[list[Reading], list[FrameRejected], HanStream]:
    stream = HanStream()
    events = []
    previous = 0
    for cut in [*sorted(cuts), len(data)]:
        if cut > previous:  # an empty chunk would mean end of input
            events += stream.feed(data[previous:cut])
        previous = cut
    events += stream.feed(b"")
    return (
        [e for e in events if isinstance(e, Reading)],
        [e for e in events if isinstance(e, FrameRejected)],
        stream,
    )


@settings(max_examples=50, deadline=None)
@given(st.lists(meter_messages(), min_size=1, max_size=4), st.data())
def test_any_chunking_gives_the_same_readings(messages: list[tuple], data: st.DataObject) -> None:
    stream_bytes = b"".join(_frames(messages))
    whole, rejected, _ = _decode_all(stream_bytes, [])
    assert not rejected and len(whole) == len(messages)
    cuts = data.draw(st.lists(st.integers(0, len(stream_bytes)), max_size=20))
    chunked, _, _ = _decode_all(stream_bytes, cuts)
    assert [r.values for r in chunked] == [r.values for r in whole]
    assert [r.offset for r in chunked] == [r.offset for r in whole]
    byte_by_byte, _, _ = _decode_all(stream_bytes, list(range(len(stream_bytes))))
    assert [r.values for r in byte_by_byte] == [r.values for r in whole]


@given(st.lists(meter_messages(), min_size=2, max_size=8))
def test_compiled_templates_decode_exactly_like_the_general_decoder(messages: list[tuple]) -> None:
    frames = _frames(messages)
    # One stream sees every frame (layouts repeat, so templates are used); a fresh stream per
    # frame decodes each the general way, since a first frame never has a template.
    templated, _, _ = _decode_all(b"".join(frames), [])
    for frame, reading in zip(frames, templated, strict=True):
        (general,) = HanStream().feed(frame)
        assert isinstance(general, Reading)
        assert list(general.values.items()) == list(reading.values.items())
        assert (general.manufacturer, general.list_kind) == (
            reading.manufacturer,
            reading.list_kind,
        )


@given(st.binary(max_size=2000), st.data())
def test_random_bytes_never_raise_and_always_finish(garbage: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(garbage)), max_size=10))
    readings, _, stream = _decode_all(garbage, cuts)
    # Every reading from random bytes must have come through a valid checksum.
    assert stream.stats.frames_ok >= len(readings)
    assert stream.next_event() is NEED_DATA


@given(st.lists(meter_messages(), min_size=1, max_size=4), st.data())
def test_corruption_never_yields_a_wrong_reading(
    messages: list[tuple], data: st.DataObject
) -> None:
    frames = _frames(messages)
    victim = data.draw(st.integers(0, len(frames) - 1))
    frame = bytearray(frames[victim])
    position = data.draw(st.integers(1, len(frame) - 2))  # inside the flags
    frame[position] ^= data.draw(st.integers(1, 255))
    corrupted = [*frames[:victim], bytes(frame), *frames[victim + 1 :]]
    readings, rejected, stream = _decode_all(b"".join(corrupted), [])
    good_values = [
        r.values for i, r in enumerate(_decode_all(b"".join(frames), [])[0]) if i != victim
    ]
    # The damaged frame produces no reading; every other frame still does.
    assert [r.values for r in readings] == good_values
    assert rejected or stream.stats.bytes_skipped


def test_garbage_between_frames_is_skipped_and_counted() -> None:
    frames = _frames([("Kamstrup", 3, False, "instantaneous", _values(), _when())] * 3)
    rng = random.Random(7)
    noise = (
        bytes(rng.randrange(256) for _ in range(300))
        .replace(b"\x7e", b"\x00")
        .replace(b"\x68", b"\x00")
        .replace(b"/", b"\x00")
    )
    readings, rejected, stream = _decode_all(noise + frames[0] + noise + frames[1] + frames[2], [])
    assert len(readings) == 3 and not rejected
    assert stream.stats.bytes_skipped == 2 * len(noise)


def test_truncated_frame_does_not_hide_the_next_one() -> None:
    frames = _frames([("Kaifa", 3, False, "instantaneous", _values(), _when())] * 2)
    readings, rejected, stream = _decode_all(frames[0][:60] + frames[1], [])
    assert len(readings) == 1 and readings[0].offset == 60
    assert rejected[0].kind == "truncated"
    assert stream.stats.truncated == 1


def _values() -> dict[str, float]:
    from .strategies import _KEYS

    return dict.fromkeys(_KEYS, 1.0)


def _when():  # type: ignore[no-untyped-def]
    from datetime import datetime

    from .strategies import OSLO

    return datetime(2026, 3, 1, 12, 0, 10, tzinfo=OSLO)


_SAMPLE_BYTES = [
    bytes.fromhex(e["hex"]) for e in _samples() if e["layer"] in ("hdlc", "mbus", "ascii")
]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_frames_never_raise(han_samples_dir: object, data: st.DataObject) -> None:
    """Real captures with bytes flipped, dropped or duplicated: events only, never an exception.

    ``han_samples_dir`` skips the test (fails it in CI) when the samples are absent."""
    assert _SAMPLE_BYTES
    frame = bytearray(data.draw(st.sampled_from(_SAMPLE_BYTES)))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(frame) - 1))
        action = data.draw(st.sampled_from(("flip", "drop", "duplicate")))
        if action == "flip":
            frame[position] ^= data.draw(st.integers(1, 255))
        elif action == "drop" and len(frame) > 1:
            del frame[position]
        else:
            frame.insert(position, frame[position])
    stream = HanStream()
    stream.receive_data(bytes(frame))
    stream.receive_data(b"")
    events = list(stream.events())
    assert all(isinstance(e, Reading | FrameRejected) for e in events)
    assert len([e for e in events if isinstance(e, Reading)]) <= stream.stats.frames_ok


def test_flag_fill_is_not_garbage_also_at_the_end_of_input() -> None:
    frames = _frames([("Aidon", 3, False, "instantaneous", _values(), _when())] * 2)
    plain = _decode_all(frames[0] + frames[1], [])[2].stats.bytes_skipped
    filled = frames[0] + b"\x7e\x7e\x7e" + frames[1] + b"\x7e\x7e"
    readings, rejected, stream = _decode_all(filled, [])
    assert len(readings) == 2 and not rejected
    # only the input's last flag, which opens nothing, counts as skipped (as one would alone)
    assert stream.stats.bytes_skipped == plain + 1


def _fed(
    data: bytes, cuts: list[int], take: Callable[[HanStream], list[object]]
) -> tuple[list[object], HanStream]:
    """What ``take`` gives after each chunk of ``data`` cut at ``cuts`` (and after its end)."""
    stream = HanStream()
    out: list[object] = []
    previous = 0
    for cut in [*sorted(cuts), len(data), -1]:
        if cut < 0:
            stream.receive_data(b"")
        elif cut > previous:
            stream.receive_data(data[previous:cut])
            previous = cut
        else:
            continue
        out += take(stream)
    return out, stream


def _events_and_texts(data: bytes, cuts: list[int]) -> tuple[list[object], HanStream]:
    """What ``events()`` gives for ``data`` cut at ``cuts``: JSON texts and rejected frames."""
    return _fed(
        data,
        cuts,
        lambda s: [e.to_json_text() if isinstance(e, Reading) else e for e in s.events()],
    )


def _rejected_then_texts(stream: HanStream) -> list[object]:
    texts, rejected = stream.json_texts()
    return [*rejected, *texts]


def _json_texts(data: bytes, cuts: list[int]) -> tuple[list[object], HanStream]:
    """The same through ``json_texts()``: per call, its rejected frames, then its texts."""
    return _fed(data, cuts, _rejected_then_texts)


def _by_kind(events: list[object]) -> tuple[list[object], list[object]]:
    return [e for e in events if isinstance(e, str)], [e for e in events if not isinstance(e, str)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_json_texts_are_the_texts_of_the_events_whatever_the_bytes(data: st.DataObject) -> None:
    # Frames of a fleet (templates hit, miss and are compiled), some damaged: a byte flipped,
    # cut short, garbage or flag fill between frames; cut into chunks anywhere.
    frames = data.draw(fleet_frames())
    pieces = []
    for frame in frames:
        action = data.draw(st.sampled_from(("keep", "keep", "flip", "cut", "garbage", "fill")))
        sent = bytearray(frame)
        if action == "flip":
            sent[data.draw(st.integers(0, len(frame) - 1))] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del sent[data.draw(st.integers(1, len(frame) - 1)) :]
        elif action == "garbage":
            pieces.append(data.draw(st.binary(min_size=1, max_size=20)))
        elif action == "fill":
            pieces.append(b"\x7e" * data.draw(st.integers(1, 3)))
        pieces.append(bytes(sent))
    stream_bytes = b"".join(pieces)
    cuts = data.draw(st.lists(st.integers(0, len(stream_bytes)), max_size=8))
    expected, by_events = _events_and_texts(stream_bytes, cuts)
    got, by_texts = _json_texts(stream_bytes, cuts)
    # the same texts in the same order, the same rejected frames, the same counts
    assert _by_kind(got) == _by_kind(expected)
    assert by_texts.stats == by_events.stats
    assert by_texts.next_event() is NEED_DATA


def test_a_damaged_frame_among_templated_ones_is_counted_and_skipped_by_json_texts() -> None:
    frames = _frames([("Kamstrup", 3, False, "instantaneous", _values(), _when())] * 4)
    damaged = bytearray(frames[2])
    damaged[-4] ^= 0x01  # the last register's low byte: the layout matches, the FCS does not
    stream = HanStream()
    stream.receive_data(b"".join([frames[0], frames[1], bytes(damaged), frames[3]]))
    texts, rejected = stream.json_texts()
    assert len(texts) == 3 and texts[0] == texts[1] == texts[2]
    assert [(r.kind, r.offset) for r in rejected] == [("crc", 2 * len(frames[0]))]
    assert stream.stats.crc_errors == 1 and stream.stats.frames_ok == 3


METER_TYPE = "6841121BN243101040"
FLEET_VALUES = {
    "active_power_export_w": 0,
    "reactive_power_import_var": 0,
    "reactive_power_export_var": 0,
    "current_l1_a": 1.0,
    "current_l2_a": 1.0,
    "current_l3_a": 1.0,
    "voltage_l1_v": 230,
    "voltage_l2_v": 230,
    "voltage_l3_v": 230,
}


def _meter_frames(meters: int, rounds: int) -> list[tuple[int, bytes]]:
    import datetime as dt

    encoders = [
        HanEncoder("Kamstrup", phases=3, meter_id=f"5706567{n:09d}", meter_type=METER_TYPE)
        for n in range(meters)
    ]
    start = dt.datetime(2026, 12, 4, 1, tzinfo=dt.UTC)
    return [
        (i, enc.encode("instantaneous", {**FLEET_VALUES, "active_power_import_w": 300 + i + r}, at))
        for r in range(rounds)
        for i, enc in enumerate(encoders)
        for at in [start + dt.timedelta(seconds=10 * r)]
    ]


def test_streams_sharing_a_decoder_decode_alike_and_compile_a_layout_once() -> None:
    """A fleet reader has a stream per meter; with one ApduDecoder the meters' common layout
    is compiled once and serves them all, and every reading is what a stream of its own gives."""
    frames = _meter_frames(meters=40, rounds=4)
    shared = ApduDecoder()
    together = [HanStream(decoder=shared) for _ in range(40)]
    alone = [HanStream() for _ in range(40)]
    for i, frame in frames:
        together[i].receive_data(frame)
        alone[i].receive_data(frame)
        got = list(together[i].events())
        want = list(alone[i].events())
        assert [r.values for r in got if isinstance(r, Reading)] == [
            r.values for r in want if isinstance(r, Reading)
        ]
        assert len(got) == len(want) == 1
    assert len(shared._templates) <= 2


def test_a_shared_decoder_takes_the_keys_itself() -> None:
    with pytest.raises(ValueError, match="shared ApduDecoder"):
        HanStream(keys=Keys(bytes(16)), decoder=ApduDecoder())
