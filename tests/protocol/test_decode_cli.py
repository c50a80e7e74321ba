"""``hanport decode``: the command-line contract of the protocol core."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanport.decode import PlainArgs, configure_decode, plain_args_decode
from hanport.protocol import HanEncoder, Keys

from .strategies import OSLO

VALUES = {
    "active_power_import_w": 1234,
    "active_power_export_w": 0,
    "reactive_power_import_var": 55,
    "reactive_power_export_var": 0,
    "current_l1_a": 5.81,
    "current_l2_a": 1.2,
    "current_l3_a": 0.5,
    "voltage_l1_v": 230,
    "voltage_l2_v": 231,
    "voltage_l3_v": 229,
    "active_energy_import_kwh": 12345.67,
    "active_energy_export_kwh": 0.5,
    "reactive_energy_import_kvarh": 10.0,
    "reactive_energy_export_kvarh": 20.0,
}


START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=OSLO)


def _frames(count: int = 3, keys: Keys | None = None) -> bytes:
    encoder = HanEncoder(
        "Kamstrup", meter_id="5706567274389702", meter_type="6841121BN243101040", keys=keys
    )
    return b"".join(
        encoder.encode("instantaneous", VALUES, START + timedelta(seconds=10 * i))
        for i in range(count)
    )


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "hanport.cli", "decode", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_binary_file_to_json_lines(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(_frames())
    result = run(str(capture))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["manufacturer"] == "Kamstrup"
    assert first["meter_id"] == "5706567274389702"
    assert first["active_power_import_w"] == 1234
    assert first["current_l1_a"] == 5.81
    assert first["notification_time"] == "2026-03-01T12:00:00"
    assert "active_energy_import_kwh" not in first  # list 1 does not carry it


def test_hex_from_stdin_ignores_whitespace_and_reports_errors_and_stats() -> None:
    good = _frames(2)
    bad = bytearray(good[: len(good) // 2])
    bad[40] ^= 0xFF  # corrupt the first frame's payload
    text = " ".join(f"{b:02x}" for b in bytes(bad) + good[len(good) // 2 :]).encode()
    text = b"\n".join(text[i : i + 47] for i in range(0, len(text), 47))
    result = run("--hex", "--errors", "--stats", stdin=text)
    assert result.returncode == 0
    assert len(result.stdout.decode().splitlines()) == 1
    stderr = result.stderr.decode()
    assert "offset 0: crc: frame check sequence (FCS) mismatch" in stderr
    assert "frames ok: 1, CRC errors: 1" in stderr


def test_encrypted_capture_needs_the_key(tmp_path: Path) -> None:
    keys = Keys(bytes(range(16)), bytes(range(16, 32)))
    capture = tmp_path / "encrypted.bin"
    capture.write_bytes(_frames(2, keys))
    without = run(str(capture), "--stats")
    assert without.returncode == 0 and without.stdout == b""
    assert "decrypt errors: 2" in without.stderr.decode()
    decoded = run(
        str(capture), "--key", keys.guek.hex(), "--auth-key", keys.gak.hex() if keys.gak else ""
    )
    assert decoded.returncode == 0
    assert [
        json.loads(line)["active_power_import_w"] for line in decoded.stdout.decode().splitlines()
    ] == [1234, 1234]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/capture.bin"], "cannot read /nonexistent/capture.bin"),
        (["--key", "abcd", "-"], "GUEK"),
        (["--key", "zz" * 16, "-"], "not hexadecimal"),
        (["--scaler", "current=x", "-"], "whole number"),
        (["--scaler", "speed=1", "-"], "quantity must be one of"),
    ],
)
def test_bad_input_is_a_one_line_message_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert message in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_bad_option_exits_2() -> None:
    result = run("--no-such-option")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr.decode()


def test_not_hex_text_exits_2() -> None:
    result = run("--hex", stdin=b"7ea0 zz 11")
    assert result.returncode == 2
    assert "not hexadecimal" in result.stderr.decode()


def test_random_bytes_never_traceback() -> None:
    import random

    noise = bytes(random.Random(1).randrange(256) for _ in range(200_000))
    result = run("--stats", stdin=noise + _frames(1))
    assert result.returncode == 0
    assert "Traceback" not in result.stderr.decode()
    assert len(result.stdout.splitlines()) == 1


def test_scaler_override_applies(tmp_path: Path) -> None:
    capture = tmp_path / "ct.bin"
    capture.write_bytes(_frames(1))
    result = run(str(capture), "--scaler", "current=-3")
    assert json.loads(result.stdout)["current_l1_a"] == 0.581


def _peak_memory_kb(frames: bytes, repeats: int) -> tuple[int, str]:
    """Peak RSS of `hanport decode` fed ``frames`` × ``repeats`` through a pipe."""
    import os

    process = subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "decode", "--stats"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stderr is not None
    for _ in range(repeats):
        process.stdin.write(frames)
    process.stdin.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, stderr
    return usage.ru_maxrss, stderr


@pytest.mark.slow
def test_a_large_capture_is_streamed_not_loaded() -> None:
    """30 MB through stdin costs no more memory than one frame does."""
    frames = _frames(300)
    repeats = 30_000_000 // len(frames)
    baseline, _ = _peak_memory_kb(frames[: len(frames) // 300], 1)
    peak, stderr = _peak_memory_kb(frames, repeats)
    assert f"frames ok: {300 * repeats}" in stderr
    assert peak - baseline < 15_000  # kB; the input is 30 MB


def test_a_live_pipe_is_decoded_as_frames_arrive() -> None:
    """`cat /dev/ttyUSB0 | hanport decode -`: a reading appears without waiting for more input."""
    import select

    process = subprocess.Popen(
        [sys.executable, "-m", "hanport.cli", "decode", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(_frames(1))
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no output while the input stays open"
        assert json.loads(process.stdout.readline())["active_power_import_w"] == 1234
    finally:
        process.kill()
        process.communicate()  # waits, and closes the pipes


def test_output_closed_early_is_not_an_error(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(_frames(3000))
    result = subprocess.run(
        f"{sys.executable} -m hanport.cli decode {capture} | head -1",
        shell=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scaler", "power=5000", "-"], "power exponent 5000"),
        (["--key", "", "-"], "empty"),
        (["--auth-key", "00" * 16, "-"], "--auth-key needs --key"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_more_bad_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    stderr = result.stderr.decode()
    assert result.returncode == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


_WORDS = st.sampled_from(
    ["--hex", "--errors", "--stats", "--key", "--auth-key", "--scaler", "--st", "--key=00",
     "-h", "--", "-", "capture.bin", "other.bin", "current=-3", "00112233", "-5"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=6))
def test_plain_command_lines_read_as_argparse_reads_them(argv: list[str]) -> None:
    # `hanport decode` reads its plain command lines without importing argparse; any other
    # line goes to argparse
    plain = plain_args_decode(argv)
    if plain is None:
        return
    parser = argparse.ArgumentParser(exit_on_error=False)
    configure_decode(parser)
    try:
        expected = parser.parse_args(argv)
    except (argparse.ArgumentError, SystemExit):
        pytest.fail(f"{argv} is an error for argparse, read as plain")
    assert {name: getattr(plain, name) for name in PlainArgs.__slots__} == vars(expected)
