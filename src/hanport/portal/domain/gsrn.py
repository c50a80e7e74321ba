"""Metering-point id (GSRN): 18 digits, Norwegian prefix 707057500, GS1 mod-10 check digit."""

from __future__ import annotations

__all__ = ["NORWEGIAN_PREFIX", "InvalidMeteringPointId", "gs1_check_digit", "validate_gsrn"]

NORWEGIAN_PREFIX = "707057500"


class InvalidMeteringPointId(ValueError):
    """The text is not a valid Norwegian metering-point id; the message says why (nb / en)."""

    def pair(self) -> tuple[str, str]:
        """The message as (bokmål, English)."""
        nb, _, en = str(self).partition(" / ")
        return nb, en or nb


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (weights 3,1,3,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def validate_gsrn(text: str) -> str:
    """Return the metering-point id without spaces, or raise InvalidMeteringPointId."""
    digits = text.replace(" ", "").strip()
    if not digits.isdigit() or len(digits) != 18:
        raise InvalidMeteringPointId(
            "Målepunkt-ID må være 18 siffer / The metering point ID must be 18 digits"
        )
    if not digits.startswith(NORWEGIAN_PREFIX):
        raise InvalidMeteringPointId(
            f"Målepunkt-ID skal starte med {NORWEGIAN_PREFIX} / "
            f"The metering point ID must start with {NORWEGIAN_PREFIX}"
        )
    if gs1_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidMeteringPointId(
            "Kontrollsifferet stemmer ikke – sjekk at ID-en er skrevet riktig / "
            "The check digit does not match – check that the ID is typed correctly"
        )
    return digits


def make_gsrn(serial: int) -> str:
    """Build a valid Norwegian metering-point id from a serial number (demo data and tests)."""
    body = f"{NORWEGIAN_PREFIX}{serial:08d}"
    return body + str(gs1_check_digit(body))
