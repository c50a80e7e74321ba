"""Errors of the protocol core.

::

    HanError                      base of everything the core raises
    ├── LocalProtocolError        the caller misused the API or gave a config that cannot work
    │   └── InvalidKeyError       a key that is not 16 bytes
    └── DecodeError               bytes that cannot be turned into a reading
        ├── DecryptionError       no key, wrong key, authentication tag mismatch
        └── UnknownListError      a well-formed APDU whose list the tables do not know

Inside a stream, ``DecodeError`` never escapes: it becomes a ``FrameRejected`` event, and
framing failures (HCS/FCS, M-Bus checksum, truncation) are reported that way directly.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import ClassVar

__all__ = [
    "DecodeError",
    "DecryptionError",
    "HanError",
    "InvalidKeyError",
    "LocalProtocolError",
    "UnknownListError",
]


class HanError(Exception):
    """Base class of every error raised by ``hanport.protocol``."""


class LocalProtocolError(HanError):
    """The caller used the API wrongly (bad argument, impossible configuration)."""


class InvalidKeyError(LocalProtocolError):
    """An encryption or authentication key that is not 16 bytes."""


class DecodeError(HanError):
    """Bytes from the meter that cannot be decoded; ``kind`` names the failed check."""

    # ClassVar: a class attribute also when the core is compiled with mypyc
    kind: ClassVar[str] = "undecodable"


class DecryptionError(DecodeError):
    kind: ClassVar[str] = "decrypt"


class UnknownListError(DecodeError):
    kind: ClassVar[str] = "undecodable"
