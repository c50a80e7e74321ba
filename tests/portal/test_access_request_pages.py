"""The holder answers a provider's access request on the portal: approve (narrowed to view, a
shorter period) or decline after a confirmation page that needs no JavaScript."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select
from test_web import sign_in

from hanport.i18n import format_date
from hanport.portal.db.schema import access_requests, providers, proxies
from hanport.portal.domain.model import Actor, Role
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.access_requests import create_request
from hanport.portal.services.providers import register_provider
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app

#: the pages run on PostgreSQL as well as SQLite, as the services' tests do
pytestmark = pytest.mark.both_databases


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def ask_for_access(world: World, register: bool = True) -> int:
    """A pending request from Varmestyring AS (registered first unless `register` is False)."""
    if register:
        register_provider(
            world.engine, world.staff, "923609016", "Varmestyring AS", "drift@varme.example"
        )
    with world.engine.connect() as conn:
        party_id = conn.execute(
            select(providers.c.party_id).where(providers.c.org_number == "923609016")
        ).scalar_one()
    provider = Actor(party_id, Role.CUSTOMER, "Varmestyring AS")
    today = utcnow().astimezone(OSLO).date()
    return create_request(
        world.engine,
        provider,
        world.mpid,
        "ola@example.no",
        "act",
        today,
        today + timedelta(days=365),
        "Styre varmtvannsberederen etter strømprisen",
    )


def _request(world: World, request_id: int) -> tuple[str, int | None]:
    with world.engine.connect() as conn:
        row = conn.execute(
            select(access_requests.c.state, access_requests.c.proxy_id).where(
                access_requests.c.id == request_id
            )
        ).one()
    return str(row.state), row.proxy_id


def test_the_holder_sees_the_request_and_approves_it_narrowed(
    client: TestClient, world: World
) -> None:
    request_id = ask_for_access(world)
    csrf = sign_in(client, world, "ola@example.no")
    assert 'href="/requests"' in client.get("/points").text
    page = client.get("/requests").text
    assert "Varmestyring AS" in page and "Styre varmtvannsberederen" in page
    assert f'action="/requests/{request_id}/approve"' in page
    expires = format_date(utcnow().astimezone(OSLO).date() + timedelta(days=14), "nb")
    assert f"Får forespørselen ikke svar, utløper den {expires}." in page
    last = utcnow().astimezone(OSLO).date() + timedelta(days=30)
    done = client.post(
        f"/requests/{request_id}/approve",
        data={"csrf": csrf, "scope": "view", "valid_to": last.isoformat()},
    )
    assert done.status_code == 200 and 'id="answered"' in done.text
    state, proxy_id = _request(world, request_id)
    assert state == "approved"
    with world.engine.connect() as conn:
        proxy = conn.execute(select(proxies).where(proxies.c.id == proxy_id)).one()
    assert (proxy.scope, proxy.valid_to) == ("view", last)
    assert 'id="no-requests"' in client.get("/requests").text


def test_a_longer_period_is_refused_in_the_page_language(client: TestClient, world: World) -> None:
    request_id = ask_for_access(world)
    csrf = sign_in(client, world, "ola@example.no")
    client.get("/lang/en")
    later = utcnow().astimezone(OSLO).date() + timedelta(days=400)
    refused = client.post(
        f"/requests/{request_id}/approve",
        data={"csrf": csrf, "scope": "act", "valid_to": later.isoformat()},
    )
    assert refused.status_code == 422
    assert "the period can only be shortened" in refused.text
    bad = client.post(
        f"/requests/{request_id}/approve", data={"csrf": csrf, "valid_to": "4.13.2027"}
    )
    assert bad.status_code == 422 and "dd.mm.yyyy" in bad.text
    assert _request(world, request_id)[0] == "pending"


def test_declining_asks_first_and_works_without_javascript(
    client: TestClient, world: World
) -> None:
    request_id = ask_for_access(world)
    csrf = sign_in(client, world, "ola@example.no")
    asked = client.post(f"/requests/{request_id}/decline", data={"csrf": csrf})
    assert str(asked.url).endswith(f"/requests/{request_id}/decline")
    assert "Avslå forespørselen?" in asked.text and 'href="/requests"' in asked.text
    assert _request(world, request_id)[0] == "pending"
    done = client.post(f"/requests/{request_id}/decline", data={"csrf": csrf, "confirm": "yes"})
    assert done.status_code == 200
    assert _request(world, request_id) == ("declined", None)


def test_another_person_cannot_see_or_answer_the_request(client: TestClient, world: World) -> None:
    request_id = ask_for_access(world)
    csrf = sign_in(client, world, "kari@example.no")
    assert "Varmestyring" not in client.get("/requests").text
    assert client.get(f"/requests/{request_id}/decline").status_code == 404
    answer = client.post(f"/requests/{request_id}/decline", data={"csrf": csrf, "confirm": "yes"})
    assert answer.status_code == 404
    assert _request(world, request_id)[0] == "pending"
