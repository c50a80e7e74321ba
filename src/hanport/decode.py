"""``hanport decode``: a HAN capture (binary or hex text) → one JSON object per reading.

Reads in chunks, so a multi-gigabyte capture never sits in memory. Exit 0 when the input was
read (bad frames are skipped and, with ``--errors``, reported); 2 with a one-line message for an
unreadable file, a bad key or a bad option.
"""

from __future__ import annotations

import os
import sys

from hanport.protocol import (
    HanError,
    HanStream,
    InvalidKeyError,
    Keys,
    ScalerOverride,
    compact_json,
)

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from typing import BinaryIO, TextIO

_CHUNK = 1 << 16
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_WHITESPACE = b" \t\n\r\x0b\x0c"  # string.whitespace
_SCALER_NAMES = ("power", "current", "voltage", "energy", "power_factor")


class _InputError(Exception):
    """The input cannot be read as asked (I/O error, not hexadecimal)."""


def configure_decode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", default="-", help="capture file, or - for stdin (default)"
    )
    parser.add_argument(
        "--hex", action="store_true", help="the input is hex text (whitespace ignored)"
    )
    parser.add_argument("--key", metavar="GUEK", help="encryption key, 32 hex digits")
    parser.add_argument("--auth-key", metavar="GAK", help="authentication key, 32 hex digits")
    parser.add_argument(
        "--scaler",
        action="append",
        default=[],
        metavar="QUANTITY=EXP",
        help="override a decimal exponent: power, current, voltage, energy or power_factor "
        "(e.g. current=-3 for a CT meter, energy=0 for Wh registers)",
    )
    parser.add_argument(
        "--errors", action="store_true", help="report each rejected frame on stderr"
    )
    parser.add_argument(
        "--stats", action="store_true", help="print frame counts on stderr at the end"
    )


class PlainArgs:
    """The options of ``hanport decode`` as ``configure_decode`` defines them."""

    __slots__ = ("auth_key", "errors", "file", "hex", "key", "scaler", "stats")

    def __init__(self) -> None:
        self.file = "-"
        self.hex = False
        self.key: str | None = None
        self.auth_key: str | None = None
        self.scaler: list[str] = []
        self.errors = False
        self.stats = False


def plain_args_decode(argv: list[str]) -> PlainArgs | None:
    """The options of a plain command line (at most one file, options by their full names,
    each value its own word), read without argparse; None for any other (help, abbreviations,
    ``--key=…``, ``--``, mistakes), which argparse reads as ever."""
    args = PlainArgs()
    files = []
    words = iter(argv)
    for word in words:
        if word == "--hex":
            args.hex = True
        elif word == "--errors":
            args.errors = True
        elif word == "--stats":
            args.stats = True
        elif word in ("--key", "--auth-key", "--scaler"):
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
            if word == "--key":
                args.key = value
            elif word == "--auth-key":
                args.auth_key = value
            else:
                args.scaler.append(value)
        elif word == "-" or not word.startswith("-"):
            files.append(word)
        else:
            return None
    if len(files) > 1:
        return None
    if files:
        args.file = files[0]
    return args


def _scalers(specs: list[str]) -> ScalerOverride | None:
    if not specs:
        return None
    exponents: dict[str, int] = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if name not in _SCALER_NAMES:
            raise ValueError(
                f"--scaler {spec!r}: quantity must be one of {', '.join(_SCALER_NAMES)}"
            )
        try:
            exponents[name] = int(value)
        except ValueError:
            raise ValueError(f"--scaler {spec!r}: the exponent must be a whole number") from None
    return ScalerOverride(**exponents)


def _binary_chunks(source: BinaryIO) -> Iterator[bytes]:
    # read1 returns what has arrived (a live pipe from a serial port), read() would wait for
    # a full chunk.
    while chunk := source.read1(_CHUNK):  # type: ignore[attr-defined]
        yield chunk


def _hex_chunks(source: BinaryIO) -> Iterator[bytes]:
    carry = b""
    position = 0  # of the chunk in the input text
    while chunk := source.read1(_CHUNK):  # type: ignore[attr-defined]
        if position == 0 and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        text = carry + chunk.translate(None, _WHITESPACE)
        usable = len(text) - len(text) % 2
        try:
            yield bytes.fromhex(text[:usable].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            bad = next(
                i for i, b in enumerate(chunk) if b not in _HEX_DIGITS and b not in _WHITESPACE
            )
            raise _InputError(
                f"not hexadecimal text at byte {position + bad}: {chunk[bad : bad + 8]!r}"
            ) from None
        carry = text[usable:]
        position += len(chunk)
    if carry:
        raise _InputError("the hex text ends with half a byte")


def run_decode(args: argparse.Namespace | PlainArgs) -> int:
    try:
        if args.auth_key is not None and args.key is None:
            raise InvalidKeyError("--auth-key needs --key as well")
        keys = Keys.from_hex(args.key, args.auth_key or None) if args.key is not None else None
        scalers = _scalers(args.scaler)
    except (HanError, ValueError) as error:
        print(f"hanport decode: {error}", file=sys.stderr)
        return 2
    try:
        source: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as error:
        print(f"hanport decode: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    stream = HanStream(keys=keys, scalers=scalers)
    out = sys.stdout
    dumps = _JsonEncoder()
    chunks = _hex_chunks(source) if args.hex else _binary_chunks(source)
    try:
        with source:
            for chunk in chunks:
                stream.receive_data(chunk)
                _emit(stream, out, dumps, args.errors)
            stream.receive_data(b"")
            _emit(stream, out, dumps, args.errors)
    except BrokenPipeError:
        # The reader of our output went away (`| head`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (_InputError, OSError) as error:
        message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        print(f"hanport decode: {args.file}: {message}", file=sys.stderr)
        return 2
    finally:
        if args.stats:
            _print_stats(stream)
    out.flush()
    return 0


#: readings the general path decoded before orjson is worth its import (≈ 12 ms of CPU, more
#: than the standard library takes for a thousand readings)
_ORJSON_AFTER = 1000


class _JsonEncoder:
    """Writes the readings that have no JSON text of their own (those the general path
    decoded: a layout's first frame, P1 telegrams, lists no template covers).

    ``compact_json`` (the protocol core's, the standard library's JSON) writes the first
    ``_ORJSON_AFTER``; orjson, when installed, the rest (several times faster per reading; both
    write the same compact JSON values). orjson is imported on first use: a capture that
    compiled templates decode (nearly every one) never needs it, and its import alone costs
    more than decoding thousands of frames."""

    __slots__ = ("_encode", "_written")

    def __init__(self) -> None:
        self._encode: Callable[[dict[str, object]], str] | None = None
        self._written = 0

    def __call__(self, document: dict[str, object]) -> str:
        if self._encode is None:
            self._written += 1
            if self._written <= _ORJSON_AFTER:
                return compact_json(document)
            self._encode = _json_encoder()
        return self._encode(document)


def _json_encoder() -> Callable[[dict[str, object]], str]:
    """orjson when it is installed, else ``compact_json`` (the same compact JSON)."""
    try:
        import orjson
    except ImportError:
        return compact_json
    dumps = orjson.dumps
    return lambda value: dumps(value).decode()


def _emit(
    stream: HanStream,
    out: TextIO,
    encode: Callable[[dict[str, object]], str],
    report_errors: bool,
) -> None:
    lines, rejected = stream.json_texts(encode)
    if report_errors:
        for event in rejected:
            print(f"offset {event.offset}: {event.kind}: {event.reason}", file=sys.stderr)
    if lines:
        lines.append("")
        out.write("\n".join(lines))
        out.flush()  # a reading is worth showing as soon as it is decoded


def _print_stats(stream: HanStream) -> None:
    s = stream.stats
    print(
        f"frames ok: {s.frames_ok}, CRC errors: {s.crc_errors}, truncated: {s.truncated}, "
        f"undecodable: {s.undecodable}, decrypt errors: {s.decrypt_errors}, "
        f"bytes skipped: {s.bytes_skipped} of {s.bytes_received}",
        file=sys.stderr,
    )
