"""Sans-I/O protocol core for the HAN port byte stream.

Bytes in, readings out: no I/O, no clock, no logging, no framework. See ``docs/CONTRACTS.md``.
"""

from ._decode import ApduDecoder, decode_apdu
from ._errors import (
    DecodeError,
    DecryptionError,
    HanError,
    InvalidKeyError,
    LocalProtocolError,
    UnknownListError,
)
from ._events import (
    NEED_DATA,
    FrameRejected,
    Keys,
    NeedData,
    Reading,
    ScalerOverride,
    StreamStats,
    Value,
    compact_json,
)
from ._stream import HanStream, decode_frame

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from ._encoder import HanEncoder, register_step

__all__ = [
    "NEED_DATA",
    "ApduDecoder",
    "DecodeError",
    "DecryptionError",
    "FrameRejected",
    "HanEncoder",
    "HanError",
    "HanStream",
    "InvalidKeyError",
    "Keys",
    "LocalProtocolError",
    "NeedData",
    "Reading",
    "ScalerOverride",
    "StreamStats",
    "UnknownListError",
    "Value",
    "compact_json",
    "decode_apdu",
    "decode_frame",
    "is_compiled",
    "register_step",
]


def is_compiled() -> bool:
    """True when the core runs as mypyc-compiled modules (a compiled wheel), False when it runs
    as the pure-Python fallback."""
    from . import _stream

    return not (_stream.__file__ or "").endswith(".py")


_LOADED_ON_FIRST_USE = ("HanEncoder", "register_step")


def __getattr__(name: str) -> object:
    # The encoder is the emulator's and the tests' side: loaded on first use, so decoding
    # (`hanport decode`, a reader) does not pay for its import.
    if name in _LOADED_ON_FIRST_USE:
        from . import _encoder

        return getattr(_encoder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # dir() lists the names loaded on first use too, as it would if they were imported above
    return sorted({*globals(), *_LOADED_ON_FIRST_USE})
