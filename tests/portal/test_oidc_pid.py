"""Fødselsnummer and d-nummer (ID-porten's pid): check digits, dates, synthetic numbers, and
what the portal keeps of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from hanport.portal.domain.fodselsnummer import InvalidPid, is_synthetic, parse_pid, synthetic_pid
from hanport.portal.seed import DEMO_PIDS
from hanport.portal.services.oidc import OidcSettings, pid_reference


def test_synthetic_numbers_are_valid_and_never_real() -> None:
    for born in (date(1975, 3, 14), date(2000, 2, 29), date(1955, 12, 31)):
        for d_number in (False, True):
            pid = synthetic_pid(born, 412, d_number=d_number)
            assert parse_pid(pid) == pid and is_synthetic(pid)
            assert int(pid[2:4]) - 80 == born.month
            assert int(pid[0:2]) == born.day + (40 if d_number else 0)


def test_the_demo_people_have_valid_synthetic_numbers() -> None:
    assert len(set(DEMO_PIDS.values())) == len(DEMO_PIDS)
    for pid in DEMO_PIDS.values():
        assert parse_pid(pid) == pid and is_synthetic(pid)


@pytest.mark.parametrize(
    "value",
    [
        "14837541214",  # second check digit wrong
        "14837541203",  # first check digit wrong
        "1483754121",  # ten digits
        "1483754121x",
        "１４８３７５４１２１３",  # full-width digits
        "32837541213",  # day 32 (check digits aside)
        "",
    ],
)
def test_invalid_numbers_are_refused(value: str) -> None:
    with pytest.raises(InvalidPid):
        parse_pid(value)


def test_the_portal_keeps_a_keyed_hash_unless_told_otherwise() -> None:
    settings = OidcSettings("https://idp", "c", "s", "https://rp/cb", pid_secret=b"k" * 32)
    pid = DEMO_PIDS["ola@example.no"]
    kept = pid_reference(pid, settings)
    assert kept.startswith("hmac:") and pid not in kept and len(kept) == 69
    other_key = OidcSettings("https://idp", "c", "s", "https://rp/cb", pid_secret=b"j" * 32)
    assert pid_reference(pid, other_key) != kept
    plain = OidcSettings("https://idp", "c", "s", "https://rp/cb", b"k" * 32, store_pid=True)
    assert pid_reference(pid, plain) == f"pid:{pid}"
    with pytest.raises(ValueError):
        OidcSettings("https://idp", "c", "s", "https://rp/cb", b"k" * 32, acr_values="level4")


def test_the_configuration_fills_the_relying_party() -> None:
    from hanport.portal.services.oidc import ACR_HIGH
    from hanport.portal.settings import OidcClient

    client = OidcClient(
        "https://idporten.example", "grid", "secret", acr="high", pid_hash_key="k" * 32
    )
    settings = OidcSettings.for_customers(client, "https://port.example/")
    assert settings.redirect_uri == "https://port.example/signin/oidc/callback"
    assert settings.acr_values == ACR_HIGH and settings.accepted_acr() == [ACR_HIGH]
    with pytest.raises(ValueError, match="pid hash key"):
        OidcSettings.for_customers(replace(client, pid_hash_key=""), "https://port.example")
