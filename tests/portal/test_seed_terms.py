"""The seeded terms say what the issue asks for, in bokmål and English."""

from __future__ import annotations

import pytest

from hanport.portal.seed import TERMS_EN, TERMS_NB

POINTS_NB = (
    "ukryptert",
    "ansvarlig for alt utstyr du kobler til",
    "utstyr som ikke er godkjent",
    "personvernet og for hvordan dataene lagres",
    "før du flytter eller sier opp avtalen",
    "Vilkårene kan endres",
    "godtar du den nye",
)
POINTS_EN = (
    "unencrypted",
    "responsible for all equipment you connect",
    "equipment that\n   is not approved",
    "privacy and storage of the data",
    "before you move or end the contract",
    "The terms may change",
    "you accept the\n   new version",
)


@pytest.mark.parametrize(("text", "points"), [(TERMS_NB, POINTS_NB), (TERMS_EN, POINTS_EN)])
def test_seeded_terms_cover_every_point(text: str, points: tuple[str, ...]) -> None:
    for point in points:
        assert point in text.format(version="1.0")
