"""Norwegian national identity numbers: fødselsnummer and d-nummer (ID-porten's `pid` claim).

Eleven digits: birth date (ddmmyy; a d-nummer adds 4 to the first digit), a three-digit
individual number, and two mod-11 check digits. Synthetic test persons (Skatteetaten's test
population) add 80 to the month, so a synthetic number can never belong to a real person.
"""

from __future__ import annotations

from datetime import date

__all__ = ["InvalidPid", "check_digits", "is_synthetic", "parse_pid", "synthetic_pid"]

_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_D_NUMBER_OFFSET = 40
_SYNTHETIC_MONTH_OFFSET = 80


class InvalidPid(ValueError):
    """Not an eleven-digit fødselsnummer or d-nummer with valid check digits and date."""


def _mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    """The check digit for `digits`, or None where no digit fits (remainder 1)."""
    rest = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    if rest == 11:
        return 0
    return None if rest == 10 else rest


def check_digits(first_nine: str) -> str | None:
    """The two check digits for nine digits, or None if the number cannot exist."""
    k1 = _mod11(first_nine, _WEIGHTS_1)
    if k1 is None:
        return None
    k2 = _mod11(first_nine + str(k1), _WEIGHTS_2)
    return None if k2 is None else f"{k1}{k2}"


def _birth_day_month(pid: str) -> tuple[int, int]:
    day, month = int(pid[0:2]), int(pid[2:4])
    if day > _D_NUMBER_OFFSET:
        day -= _D_NUMBER_OFFSET  # d-nummer
    if month > _SYNTHETIC_MONTH_OFFSET:
        month -= _SYNTHETIC_MONTH_OFFSET  # synthetic test person
    return day, month


def parse_pid(value: str) -> str:
    """The number itself if it is a valid fødselsnummer or d-nummer; InvalidPid otherwise."""
    pid = value.strip()
    if len(pid) != 11 or not pid.isascii() or not pid.isdigit():
        raise InvalidPid("a fødselsnummer or d-nummer has eleven digits")
    if check_digits(pid[:9]) != pid[9:]:
        raise InvalidPid("the check digits do not match")
    day, month = _birth_day_month(pid)
    try:
        date(2000, month, day)  # a leap year: 29 February is a possible birthday
    except ValueError:
        raise InvalidPid("the number holds no valid birth date") from None
    return pid


def is_synthetic(pid: str) -> bool:
    return int(pid[2:4]) > _SYNTHETIC_MONTH_OFFSET


def synthetic_pid(born: date, individual: int, *, d_number: bool = False) -> str:
    """A synthetic test person's number (month + 80) for a birth date and individual number;
    the next individual number is tried while the check digits cannot be formed."""
    day = born.day + (_D_NUMBER_OFFSET if d_number else 0)
    month = born.month + _SYNTHETIC_MONTH_OFFSET
    for candidate in range(individual, individual + 1000):
        first_nine = f"{day:02d}{month:02d}{born.year % 100:02d}{candidate % 1000:03d}"
        digits = check_digits(first_nine)
        if digits is not None:
            return first_nine + digits
    raise InvalidPid("no individual number fits")  # never: some of any ten consecutive fit
