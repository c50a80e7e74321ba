"""A row of a list layout: what the encoder writes and the decoder expects."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Row"]


@dataclass(frozen=True, slots=True)
class Row:
    obis: bytes
    key: str
    #: A-XDR type tag of the value
    tag: int
    #: decimal exponent from the raw register to the contract unit (W, A, V, kWh)
    exponent: int = 0
    #: DLMS unit code, for lists that carry {scaler, unit}
    unit: int | None = None
    #: the scaler written in the frame (Aidon), when it differs from ``exponent`` (energy → kWh)
    scaler: int | None = None
