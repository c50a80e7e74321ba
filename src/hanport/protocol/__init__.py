"""Sans-I/O protocol core for the HAN port byte stream.

Bytes in, readings out: no I/O, no clock, no logging, no framework. See ``docs/CONTRACTS.md``.
"""

from ._decode import decode_apdu
from ._encoder import HanEncoder, register_step
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
)
from ._stream import HanStream, decode_frame

__all__ = [
    "NEED_DATA",
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
    "decode_apdu",
    "decode_frame",
    "register_step",
]
