"""The portal's pages in nynorsk next to bokmål and English: the switch, the catalogs' texts,
the terms a nynorsk reader accepts (bokmål's), and plural forms."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World, oslo_today
from sqlalchemy import select
from test_web import csrf_of, sign_in

from hanport.portal.db.schema import orders
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.moves import apply_due_changes, register_customer_change
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def test_the_switch_offers_three_languages_and_nynorsk_pages_use_its_catalog(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "ola@example.no")
    bokmaal = client.get("/points")
    assert '<html lang="nb">' in bokmaal.text and "Mine målepunkter" in bokmaal.text
    assert 'id="lang-nn"' in bokmaal.text and 'id="lang-en"' in bokmaal.text
    assert client.get("/lang/nn?next=/points").url.path == "/points"
    nynorsk = client.get(f"/points/{world.mpid}")
    assert '<html lang="nn">' in nynorsk.text
    assert "Bestill opning av HAN-porten" in nynorsk.text
    assert "Kvar står målaren?" in nynorsk.text
    assert "Eg har lese og godtek vilkåra" in nynorsk.text
    # the seeded terms have a nynorsk text, and a nynorsk reader gets it
    assert "Vilkår for bruk av HAN-porten" in nynorsk.text
    assert "Dataa er ukrypterte" in nynorsk.text and "Dataene sendes" not in nynorsk.text
    client.get("/lang/en?next=/points")
    assert "My metering points" in client.get("/points").text


def test_a_nynorsk_order_records_the_nynorsk_terms_it_showed(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "ola@example.no")
    client.get("/lang/nn?next=/points")
    page = client.get(f"/points/{world.mpid}")
    terms = re.search(r'name="terms_version_id" value="(\d+)"', page.text)
    assert terms
    placed = client.post(
        f"/points/{world.mpid}/orders",
        data={
            "csrf": csrf_of(page.text),
            "action": "open",
            "terms_version_id": terms.group(1),
            "declaration": "locked_cabinet",
            "module_option": "have",
            "terms_accepted": "yes",
        },
    )
    assert placed.status_code == 200, placed.text
    assert "Bestilling motteken" in placed.text  # the timeline in nynorsk
    with world.engine.connect() as conn:
        recorded = conn.execute(select(orders.c.terms_lang).order_by(orders.c.id.desc())).first()
    assert recorded is not None and recorded.terms_lang == "nn"


def test_counts_use_the_plural_forms(client: TestClient, world: World) -> None:
    sign_in(client, world, STAFF_EMAIL)
    for lang, pattern in (
        ("nb", r"\d+ (åpen sak|åpne saker, de som haster mest først)"),
        ("nn", r"\d+ (open sak|opne saker, dei som hastar mest først)"),
        ("en", r"\d+ (open case|open cases, most urgent first)"),
    ):
        client.get(f"/lang/{lang}?next=/staff")
        assert re.search(pattern, client.get("/staff").text), lang


def test_a_new_customer_can_get_nynorsk_notices(world: World) -> None:
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=oslo_today().isoformat(),
        new_email="nora@example.no",
        new_name="Nora Nynorsk",
        new_lang="nn",
    )
    apply_due_changes(world.engine, oslo_today())
    welcome = world.mails("nora@example.no")
    # the port was closed already: the invitation to order it follows at once, in nynorsk too
    assert [subject for _, subject, _ in welcome] == [
        f"Velkomen som kunde på {world.mpid}",
        f"HAN-porten på {world.mpid} er klar til å bestillast",
    ]
    assert f"frå {oslo_today():%d.%m.%Y}" in welcome[0][2]


def test_service_messages_come_in_the_page_language(client: TestClient, world: World) -> None:
    sign_in(client, world, "ola@example.no")
    client.get("/lang/nn?next=/points")
    page = client.get(f"/points/{world.mpid}")
    terms = re.search(r'name="terms_version_id" value="(\d+)"', page.text)
    assert terms
    missing = client.post(
        f"/points/{world.mpid}/orders",
        data={"csrf": csrf_of(page.text), "action": "open", "terms_version_id": terms.group(1)},
    )
    assert missing.status_code == 422
    assert "Stadfest kvar målaren står" in missing.text  # the services' message, in nynorsk
    client.get("/lang/en?next=/points")
    english = client.post(
        f"/points/{world.mpid}/orders",
        data={"csrf": csrf_of(page.text), "action": "open", "terms_version_id": terms.group(1)},
    )
    assert "Confirm where the meter is" in english.text


def test_the_api_answers_in_nynorsk_when_asked(client: TestClient) -> None:
    answer = client.get("/api/v1/metering-points", headers={"Accept-Language": "nn-NO"})
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Manglar API-nøkkel (Authorization: Bearer)"


def test_mails_follow_the_language_the_customer_chose_on_the_pages(
    client: TestClient, world: World
) -> None:
    # Walking the demo: Ola read and ordered in English and got his receipt and "opened" mail in
    # bokmål (the language stored for him), Lars ordered in nynorsk and got bokmål mails too.
    sign_in(client, world, "ola@example.no")
    client.get("/lang/en?next=/points")
    page = client.get(f"/points/{world.mpid}")
    terms = re.search(r'name="terms_version_id" value="(\d+)"', page.text)
    assert terms
    placed = client.post(
        f"/points/{world.mpid}/orders",
        data={
            "csrf": csrf_of(page.text),
            "action": "open",
            "terms_version_id": terms.group(1),
            "declaration": "locked_cabinet",
            "module_option": "have",
            "terms_accepted": "yes",
        },
    )
    assert placed.status_code == 200, placed.text
    subjects = [subject for _, subject, _ in world.mails("ola@example.no")]
    assert subjects[-1].startswith("We have received your order (no. "), subjects
