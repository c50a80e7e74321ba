"""The seeded terms say what the issue asks for, in bokmål, nynorsk and English."""

from __future__ import annotations

import pytest
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import terms_versions
from hanport.portal.seed import TERMS_EN, TERMS_NB, TERMS_NN
from hanport.portal.services.terms import canonical_text, terms_hash

# each language's words for the same six points, in the same order
POINTS_NB = (
    "ukryptert",  # the data leaves the meter unencrypted
    "ansvarlig for alt utstyr du kobler til",  # the customer answers for equipment connected
    "utstyr som ikke er godkjent",  # ... and for damage by equipment not approved
    "personvernet og for hvordan dataene lagres",  # privacy and storage are the customer's
    "før du flytter eller sier opp avtalen",  # notify before moving or ending the contract
    "Vilkårene kan endres",  # the terms may change
    "den nye\n   versjonen neste gang du bestiller, og du godtar den",  # accepted at next order
)
POINTS_NN = (
    "ukrypterte",
    "ansvarleg for alt utstyr du koplar til",
    "utstyr som ikkje er godkjent",
    "personvernet og for korleis dataa blir lagra",
    "før du flyttar eller seier opp avtalen",
    "Vilkåra kan endrast",
    "den nye versjonen\n   neste gong du bestiller, og du godtek han",
)
POINTS_EN = (
    "unencrypted",
    "responsible for all equipment you connect",
    "equipment that\n   is not approved",
    "privacy and storage of the data",
    "before you move or end the contract",
    "The terms may change",
    "the new\n   version the next time you order, and you accept it",
)


@pytest.mark.parametrize(
    ("text", "points"), [(TERMS_NB, POINTS_NB), (TERMS_NN, POINTS_NN), (TERMS_EN, POINTS_EN)]
)
def test_seeded_terms_cover_every_point(text: str, points: tuple[str, ...]) -> None:
    for point in points:
        assert point in text.format(version="1.0")


def test_the_three_texts_have_the_same_numbered_points() -> None:
    def numbers(text: str) -> list[str]:
        return [line.split(".")[0] for line in text.splitlines() if line[:1].isdigit()]

    assert numbers(TERMS_NB) == numbers(TERMS_NN) == numbers(TERMS_EN) == list("123456")


def test_the_seeded_version_is_stored_with_its_nynorsk_text(world: World) -> None:
    with world.engine.connect() as conn:
        row = conn.execute(select(terms_versions).order_by(terms_versions.c.id)).first()
    assert row is not None
    assert row.text_nn == canonical_text(TERMS_NN.format(version="1.0"))
    assert row.sha256 == terms_hash(row.text_nb, row.text_en, row.text_nn)
