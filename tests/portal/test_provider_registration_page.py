"""Customer service registers a provider on a page of its own and sees its organisation key
once; bad input is answered in the page's language, customers get no access."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from test_web import sign_in

from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.web.app import PortalConfig, create_app

#: the pages run on PostgreSQL as well as SQLite, as the services' tests do
pytestmark = pytest.mark.both_databases


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def test_staff_register_a_provider_and_see_its_key_once(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    assert 'href="/staff/providers"' in client.get("/staff").text
    assert 'id="no-providers"' in client.get("/staff/providers").text
    form = {"csrf": csrf, "org_number": "923609016", "name": "Varmestyring AS"}
    done = client.post("/staff/providers", data={**form, "contact_email": "drift@varme.example"})
    assert done.status_code == 200 and 'id="org-key"' in done.text
    listed = client.get("/staff/providers").text
    assert "Varmestyring AS" in listed and 'id="org-key"' not in listed
    again = client.post("/staff/providers", data={**form, "contact_email": "drift@varme.example"})
    assert again.status_code == 409 and "923609016" in again.text
    client.get("/lang/en")
    bad = client.post(
        "/staff/providers",
        data={"csrf": csrf, "org_number": "923609017", "name": "X", "contact_email": "nope"},
    )
    assert bad.status_code == 422
    assert "check digit does not match" in bad.text and 'value="923609017"' in bad.text


def test_a_customer_cannot_open_the_providers_page(client: TestClient, world: World) -> None:
    sign_in(client, world, "ola@example.no")
    assert client.get("/staff/providers").status_code == 403
