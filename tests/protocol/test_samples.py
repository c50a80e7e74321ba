"""Every real frame in tests/data/han-samples decodes to exactly its expected values."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hanport.protocol import (
    DecodeError,
    FrameRejected,
    HanStream,
    Keys,
    Reading,
    ScalerOverride,
    decode_apdu,
)
from hanport.protocol._apdu import parse_ciphered, strip_llc
from services.samples import han_samples_path, load_han_samples

_SAMPLES = load_han_samples(han_samples_path()) if han_samples_path().is_dir() else []
#: annotations in ``expected`` that describe the raw bytes rather than a decoded field
_ANNOTATIONS = {"meter_id_raw_has_nul_padding"}


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['file'].removesuffix('.json')}:{e['id']}" for e in entries]


def _decodable() -> list[dict[str, Any]]:
    return [e for e in _SAMPLES if e["expected_from"] != "none"]


def _errors() -> list[dict[str, Any]]:
    return [e for e in _SAMPLES if e["error_sample"]]


def _keys(entry: dict[str, Any]) -> Keys | None:
    key = entry.get("key")
    return Keys.from_hex(key["guek"], key.get("gak")) if key else None


def decode_sample(entry: dict[str, Any]) -> tuple[list[Reading], list[FrameRejected], int]:
    """Decode a sample the way its layer needs: wire bytes through a stream, LLC/APDU directly.

    Returns the readings, the rejected frames and the number of bytes skipped as garbage.
    """
    data = bytes.fromhex(entry["hex"])
    if entry["layer"] in ("llc", "apdu"):
        apdu = strip_llc(data) if entry["layer"] == "llc" else data
        return [decode_apdu(apdu, keys=_keys(entry))], [], 0
    stream = HanStream(keys=_keys(entry))
    stream.receive_data(data)
    stream.receive_data(b"")
    events = list(stream.events())
    return (
        [e for e in events if isinstance(e, Reading)],
        [e for e in events if isinstance(e, FrameRejected)],
        stream.stats.bytes_skipped,
    )


def _same(actual: object, expected: object) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        return (
            isinstance(actual, int | float)
            and isinstance(expected, int | float)
            and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
        )
    return actual == expected


@pytest.fixture(autouse=True)
def _samples_present(han_samples_dir: object) -> None:
    """Skips (or, in CI, fails) with a clear reason when the samples are absent."""


@pytest.mark.parametrize("entry", _decodable() or [None], ids=_ids(_decodable()) or ["no-samples"])
def test_sample_decodes_to_expected(entry: dict[str, Any]) -> None:
    readings, rejected, skipped = decode_sample(entry)
    assert not rejected, rejected
    assert skipped == 0
    assert len(readings) == 1
    actual = readings[0].values
    expected = {k.lower(): v for k, v in entry["expected"].items() if k not in _ANNOTATIONS}
    mismatched = {
        k: (actual.get(k, "<absent>"), v)
        for k, v in expected.items()
        if not _same(actual.get(k, "<absent>"), v)
    }
    assert not mismatched, mismatched
    extra = set(actual) - set(expected)
    assert not extra, f"fields the sample does not expect: { {k: actual[k] for k in extra} }"
    if entry["expected"].get("meter_id_raw_has_nul_padding"):
        assert "\x00" not in str(actual["meter_id"])


@pytest.mark.parametrize("entry", _errors() or [None], ids=_ids(_errors()) or ["no-samples"])
def test_error_sample_is_rejected_without_exception(entry: dict[str, Any]) -> None:
    readings, rejected, skipped = decode_sample(entry)
    assert readings == []
    # A frame read with the wrong parity has no valid frame start at all: its bytes are
    # counted as skipped. Anything with a valid start is reported as a rejected frame.
    assert rejected or skipped == len(bytes.fromhex(entry["hex"]))


@pytest.mark.parametrize(
    "entry",
    [e for e in _SAMPLES if e["expected_from"] == "none" and not e["error_sample"]] or [None],
)
def test_undecodable_sample_never_raises(entry: dict[str, Any]) -> None:
    """Encrypted frames without keys, single GBT blocks and a first segment: rejected or pending."""
    if entry["layer"] in ("llc", "apdu"):
        with pytest.raises(DecodeError):
            decode_sample(entry)
        return
    readings, rejected, _ = decode_sample(entry)
    assert all(isinstance(r, Reading) for r in readings)
    assert all(isinstance(r, FrameRejected) for r in rejected)


def test_published_key_frame_decrypts_to_its_apdu() -> None:
    entries = [e for e in _SAMPLES if e.get("key") and e.get("decrypted_apdu_hex")]
    assert entries, "the Netz NÖ sample with its published key is missing"
    for entry in entries:
        readings, rejected, _ = decode_sample(entry)
        assert not rejected
        data = bytes.fromhex(entry["hex"])
        # Join the M-Bus segments' data the way the stream does and decrypt it directly too.
        segments, pos = [], 0
        while pos < len(data):
            length = data[pos + 1]
            segments.append(data[pos + 9 : pos + 4 + length])
            pos += length + 6
        ciphered = parse_ciphered(b"".join(segments))
        assert ciphered.decrypt(_keys(entry)).hex() == entry["decrypted_apdu_hex"].lower()
        assert readings[0].frame_counter == ciphered.counter


def test_general_block_transfer_blocks_are_joined_and_described_by_their_object_list() -> None:
    blocks = [e for e in _SAMPLES if e["id"].startswith("lg-e450-ch-gh740-")]
    assert len(blocks) == 3
    stream = HanStream()
    events = [event for entry in blocks for event in stream.feed(bytes.fromhex(entry["hex"]))]
    assert len(events) == 1 and isinstance(events[0], Reading)
    reading = events[0]
    assert reading.meter_id == "63326413"
    assert reading.notification_time == "2024-02-29T22:48:50"
    # The E450 sends no scalers and none is documented: registers stay raw, by OBIS code.
    assert reading.unknown["1-0:1.7.0.255"] == 362
    assert reading.unknown["1-1:1.8.0.255"] == 2302502
    assert "active_power_import_w" not in reading.values
    # With the installation's scalers given, the same registers are mapped.
    scaled = HanStream(scalers=ScalerOverride(power=0, energy=0, current=-2))
    (mapped,) = [event for entry in blocks for event in scaled.feed(bytes.fromhex(entry["hex"]))]
    assert isinstance(mapped, Reading)
    assert mapped.values["active_power_import_w"] == 362
    assert mapped.values["active_energy_import_kwh"] == 2302.502
    assert mapped.values["current_l1_a"] == 0.51
