"""A row of a list layout: what the encoder writes and the decoder expects."""

from __future__ import annotations

__all__ = ["Row"]

TYPE_CHECKING = False  # typing is not imported at run time (start-up of `hanport decode`)
if TYPE_CHECKING:
    from typing import Final


class Row:
    __slots__ = ("exponent", "key", "obis", "scaler", "tag", "unit")

    def __init__(
        self,
        obis: bytes,
        key: str,
        tag: int,
        exponent: int = 0,
        unit: int | None = None,
        scaler: int | None = None,
    ) -> None:
        self.obis: Final = obis
        self.key: Final = key
        #: A-XDR type tag of the value
        self.tag: Final = tag
        #: decimal exponent from the raw register to the contract unit (W, A, V, kWh)
        self.exponent: Final = exponent
        #: DLMS unit code, for lists that carry {scaler, unit}
        self.unit: Final = unit
        #: the scaler written in the frame (Aidon), when it differs from ``exponent``
        #: (energy → kWh)
        self.scaler: Final = scaler

    def _key(self) -> tuple[object, ...]:
        return (self.obis, self.key, self.tag, self.exponent, self.unit, self.scaler)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Row(obis={self.obis!r}, key={self.key!r}, tag={self.tag!r}, "
            f"exponent={self.exponent!r}, unit={self.unit!r}, scaler={self.scaler!r})"
        )
