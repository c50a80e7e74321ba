"""Capture files are read as a stream of chunks: the same bytes as reading the whole file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanport.reader.sources import SourceError, capture_chunks, read_capture

_BYTES = bytes(range(256)) * 40  # 10 KiB, every byte value


def _chunks(path: Path, size: int) -> list[bytes]:
    return list(capture_chunks(path, size))


def test_binary_capture_in_chunks_of_any_size(tmp_path: Path) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(_BYTES * 10)
    for size in (1, 7, 4096, 1 << 20):
        chunks = _chunks(path, size)
        assert b"".join(chunks) == _BYTES * 10
        assert max(map(len, chunks)) <= max(size, 65536)


def test_hex_text_with_comments_split_anywhere(tmp_path: Path) -> None:
    """Comments, line ends and the two digits of a byte may fall on any block boundary."""
    lines = [f"# frame {i}: {'ab' * 40} is not data\n{_BYTES[i * 64 : i * 64 + 64].hex(' ')}"
             for i in range(160)]  # fmt: skip
    path = tmp_path / "capture.hex"
    path.write_text("\n".join(lines) + "  # trailing comment without a line end")
    for size in (1, 3, 50, 4096):
        assert b"".join(_chunks(path, size)) == _BYTES
    assert read_capture(path) == _BYTES


def test_progress_reaches_the_end(tmp_path: Path) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(_BYTES * 20)
    seen: list[float] = []
    assert b"".join(capture_chunks(path, 8192, seen.append)) == _BYTES * 20
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_hex_text_that_turns_into_something_else_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "capture.hex"
    text = "7e a0\n" * 20_000  # more than the 64 KiB that decide it is hex text
    path.write_text(text + "7e zz\n")
    with pytest.raises(SourceError, match=f"not hexadecimal text at byte {len(text) + 3}"):
        _chunks(path, 4096)


def test_hex_text_ending_with_half_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "capture.hex"
    path.write_text("7e a0 e\n")
    with pytest.raises(SourceError, match="half a byte"):
        read_capture(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        read_capture(tmp_path / "missing.bin")
