"""Metering-point id (GSRN): 18 digits, Norwegian prefix 707057500, GS1 mod-10 check digit."""

from __future__ import annotations

from hanport.i18n import N_

__all__ = ["NORWEGIAN_PREFIX", "InvalidMeteringPointId", "gs1_check_digit", "validate_gsrn"]

NORWEGIAN_PREFIX = "707057500"


class InvalidMeteringPointId(ValueError):
    """The text is not a valid Norwegian metering-point id. The message says why in English
    (a "portal" catalog msgid, `{prefix}` filled from `params`)."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message.format(**params))
        self.message = message
        self.params = params


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (weights 3,1,3,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def validate_gsrn(text: str) -> str:
    """Return the metering-point id without spaces, or raise InvalidMeteringPointId."""
    digits = text.replace(" ", "").strip()
    if not digits.isdigit() or len(digits) != 18:
        raise InvalidMeteringPointId(N_("The metering point ID must be 18 digits"))
    if not digits.startswith(NORWEGIAN_PREFIX):
        raise InvalidMeteringPointId(
            N_("The metering point ID must start with {prefix}"), prefix=NORWEGIAN_PREFIX
        )
    if gs1_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidMeteringPointId(
            N_("The check digit does not match – check that the ID is typed correctly")
        )
    return digits


def make_gsrn(serial: int) -> str:
    """Build a valid Norwegian metering-point id from a serial number (demo data and tests)."""
    body = f"{NORWEGIAN_PREFIX}{serial:08d}"
    return body + str(gs1_check_digit(body))
