"""The API's order body: no module choice is needed for a meter with the HAN port built in, and a
malformed postcode or pick-up place is refused in the service's words, while the OpenAPI keeps
declaring their patterns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import parties
from hanport.portal.domain.shipments import PLACE_KEY_PATTERN, POSTCODE_PATTERN
from hanport.portal.seed import DEMO_METERS
from hanport.portal.services.api_keys import create_token
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="api-fields-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _key_of(world: World, email: str) -> dict[str, str]:
    with world.engine.connect() as conn:
        party_id = conn.execute(select(parties.c.id).where(parties.c.email == email)).scalar_one()
    return {"Authorization": f"Bearer {create_token(world.engine, party_id, 'reader')}"}


def _open(world: World, **fields: object) -> dict[str, object]:
    return {
        "action": "open",
        "terms_version_id": world.terms_id,
        "terms_accepted": True,
        "declaration": "inside_home",
        **fields,
    }


@pytest.mark.both_databases
@pytest.mark.parametrize("brand", ["Aidon", "Kaifa"])
def test_a_meter_with_the_port_built_in_needs_no_module_choice(
    client: TestClient, world: World, brand: str
) -> None:
    meter = next(m for m in DEMO_METERS if m.manufacturer == brand)
    auth = _key_of(world, meter.customer_email)
    path = f"/api/v1/metering-points/{meter.metering_point_id}/orders"
    made = client.post(path, json=_open(world), headers=auth)
    assert made.status_code == 201, made.text
    assert made.json()["module"] is None  # nothing to send: "have", as the form sends


def test_a_meter_that_needs_a_module_still_asks_for_the_choice(
    client: TestClient, world: World
) -> None:
    auth = {**_key_of(world, "ola@example.no"), "Accept-Language": "en"}
    path = f"/api/v1/metering-points/{world.mpid}/orders"  # a Kamstrup: the module slot
    refused = client.post(path, json=_open(world), headers=auth)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == {
        "module_option": "Choose whether you have a HAN module or want it by post / to pick up"
    }


@pytest.mark.parametrize(
    ("lang", "postcode", "place"),
    [
        ("en", "The postcode is four digits, e.g. 6800", "Choose one of the pick-up places shown"),
        ("nb", "Postnummeret er fire sifre, f.eks. 6800", "Velg et av hentestedene som vises"),
    ],
)
def test_a_malformed_postcode_or_place_is_explained(
    client: TestClient, world: World, lang: str, postcode: str, place: str
) -> None:
    auth = {**_key_of(world, "ola@example.no"), "Accept-Language": lang}
    path = f"/api/v1/metering-points/{world.mpid}/orders"
    body = _open(world, module_option="post", delivery_street="Storgata 1", delivery_city="Førde")
    bad_postcode = client.post(path, json={**body, "delivery_postcode": "68 00"}, headers=auth)
    assert bad_postcode.status_code == 422
    assert bad_postcode.json()["error"]["fields"] == {"delivery_postcode": postcode}
    body = _open(world, module_option="pickup", pickup_place="Lager Florø")
    bad_place = client.post(path, json=body, headers=auth)
    assert bad_place.status_code == 422
    assert bad_place.json()["error"]["fields"] == {"pickup_place": place}
    # too long: the limit is the message
    long_place = client.post(path, json={**body, "pickup_place": "a" * 65}, headers=auth)
    assert "64" in long_place.json()["error"]["fields"]["pickup_place"]
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["OrderIn"]
    properties = schema["properties"]
    assert properties["delivery_postcode"]["anyOf"][0]["pattern"] == POSTCODE_PATTERN
    assert properties["pickup_place"]["anyOf"][0]["pattern"] == PLACE_KEY_PATTERN
    assert "module_option" not in schema.get("required", [])


def test_the_timeline_notes_stay_english_words_in_the_api(client: TestClient, world: World) -> None:
    """The notes are stored as codes (domain.notes); the API's `note` stays a line in English."""
    meter = next(m for m in DEMO_METERS if m.customer_email == "ola@example.no")
    auth = _key_of(world, "ola@example.no")
    path = f"/api/v1/metering-points/{meter.metering_point_id}/orders"
    made = client.post(path, json=_open(world, module_option="have"), headers=auth)
    assert made.status_code == 201, made.text
    read = client.get(f"/api/v1/orders/{made.json()['id']}", headers=auth).json()
    assert read["timeline"][0]["note"] == "API, ordered as contract holder"
