"""A move-in carries the new customer's language: their party and their notices use it, from
the REST API and from the back-office form alike; a known customer keeps the language they chose."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World, code_from, oslo_today
from sqlalchemy import select

from hanport.portal.db.schema import parties
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.errors import InvalidInput
from hanport.portal.services.moves import apply_due_changes, register_customer_change
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _lang(world: World, email: str) -> str:
    with world.engine.connect() as conn:
        return str(
            conn.execute(select(parties.c.lang).where(parties.c.email == email)).scalar_one()
        )


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def test_the_api_registers_an_english_speaking_new_customer(
    client: TestClient, world: World
) -> None:
    assert world.staff.party_id is not None
    staff = {"Authorization": "Bearer " + create_token(world.engine, world.staff.party_id, "elhub")}
    url = f"/api/v1/metering-points/{world.mpid}/customer-changes"
    body = {
        "effective_date": oslo_today().isoformat(),
        "new_customer_email": "olivia.new@example.com",
        "new_customer_name": "Olivia Newcomer",
    }
    refused = client.post(url, json={**body, "new_customer_lang": "de"}, headers=staff)
    assert refused.status_code == 422
    assert "new_customer_lang" in str(refused.json()["error"]["fields"])
    created = client.post(url, json={**body, "new_customer_lang": "en"}, headers=staff)
    assert created.status_code == 201, created.text
    assert _lang(world, "olivia.new@example.com") == "en"
    apply_due_changes(world.engine, oslo_today())
    welcome = world.mails("olivia.new@example.com")
    # the port was closed already: the invitation to order it follows the welcome at once
    assert [subject for _, subject, _ in welcome] == [
        f"Welcome as customer on {world.mpid}",
        f"The HAN port on {world.mpid} is ready for you to order",
    ]
    assert "Hello Olivia Newcomer," in welcome[0][2]
    # the old customer still hears it in their own language
    assert any(
        subject == f"Kundeforholdet på {world.mpid} er avsluttet"
        for _, subject, _ in world.mails("ola@example.no")
    )


def test_without_a_language_the_new_customer_gets_bokmal(world: World) -> None:
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=oslo_today().isoformat(),
        new_email="nils@example.no",
        new_name="Nils Ny",
    )
    assert _lang(world, "nils@example.no") == "nb"


def test_a_known_customer_keeps_their_language(world: World) -> None:
    # Kari is a customer already (bokmål); moving in does not change her choice
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=oslo_today().isoformat(),
        new_email="kari@example.no",
        new_name="Kari Nordmann",
        new_lang="en",
    )
    assert _lang(world, "kari@example.no") == "nb"


def test_the_back_office_form_asks_for_the_language(client: TestClient, world: World) -> None:
    page = client.get("/signin")
    csrf = _csrf(page.text)
    client.post("/signin", data={"csrf": csrf, "email": STAFF_EMAIL})
    code = code_from(world.mails(STAFF_EMAIL)[-1][2])
    client.post("/signin/code", data={"csrf": csrf, "email": STAFF_EMAIL, "code": code})
    form = client.get("/staff/moves")
    assert form.status_code == 200
    assert 'name="new_lang" value="en"' in form.text
    fields = {
        "csrf": _csrf(form.text),
        "metering_point_id": world.mpid,
        "effective_date": oslo_today().isoformat(),
        "new_email": "ewan@example.com",
        "new_name": "Ewan English",
    }
    bad = client.post("/staff/moves", data={**fields, "new_lang": "sv"})
    assert bad.status_code == 422
    assert "bokmål" in bad.text  # the field's message, in the staff member's language
    done = client.post("/staff/moves", data={**fields, "new_lang": "en"})
    assert done.status_code == 200, done.text
    assert _lang(world, "ewan@example.com") == "en"


def test_an_unknown_language_is_refused_by_the_service(world: World) -> None:
    with pytest.raises(InvalidInput) as caught:
        register_customer_change(
            world.engine,
            world.staff,
            world.mpid,
            effective=oslo_today().isoformat(),
            new_email="x@example.no",
            new_name="X",
            new_lang="fr",
        )
    assert set(caught.value.fields) == {"new_lang"}
