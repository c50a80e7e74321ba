"""The API side of powers of attorney: a provider lists those it holds; a customer's own key
lists those it gave and revokes one (an act key only; never another's)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import proxies
from hanport.portal.domain.model import Actor, Role
from hanport.portal.domain.sla import OSLO
from hanport.portal.services.access_requests import answer_request, create_request
from hanport.portal.services.api_keys import new_key
from hanport.portal.services.providers import register_provider
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _approved_provider(world: World) -> tuple[str, int]:
    """A provider's org key and the proxy the holder approved for it."""
    registered = register_provider(world.engine, world.staff, "923609016", "V AS", "a@b.example")
    today = utcnow().astimezone(OSLO).date()
    actor = Actor(registered.party_id, Role.CUSTOMER, "V AS")
    request_id = create_request(
        world.engine,
        actor,
        world.mpid,
        "ola@example.no",
        "act",
        today,
        today + timedelta(days=30),
        "Styring",
    )
    proxy_id = answer_request(world.engine, world.holder, request_id, approve=True)
    assert proxy_id is not None
    return registered.org_key, proxy_id


def test_the_provider_lists_the_powers_of_attorney_it_holds(
    world: World, client: TestClient
) -> None:
    key, proxy_id = _approved_provider(world)
    held = client.get("/api/v1/powers-of-attorney", headers=_bearer(key))
    assert held.status_code == 200
    assert [(p["id"], p["metering_point_id"], p["scope"]) for p in held.json()] == [
        (proxy_id, world.mpid, "act")
    ]


def test_the_customers_own_key_lists_and_revokes_what_it_gave(
    world: World, client: TestClient
) -> None:
    provider_key, proxy_id = _approved_provider(world)
    last_day = (utcnow().astimezone(OSLO).date() + timedelta(days=30)).isoformat()
    viewer = new_key(world.engine, world.holder, "lesing", "view", last_day)
    actor = new_key(world.engine, world.holder, "styring", "act", last_day)
    given = client.get("/api/v1/proxies", headers=_bearer(viewer)).json()
    assert proxy_id in [p["id"] for p in given]
    refused = client.post(f"/api/v1/proxies/{proxy_id}/revoke", headers=_bearer(viewer))
    assert refused.status_code == 403
    stranger = client.post(f"/api/v1/proxies/{proxy_id}/revoke", headers=_bearer(provider_key))
    assert stranger.status_code == 403
    done = client.post(f"/api/v1/proxies/{proxy_id}/revoke", headers=_bearer(actor))
    assert done.status_code == 204
    with world.engine.connect() as conn:
        revoked_at = conn.execute(
            select(proxies.c.revoked_at).where(proxies.c.id == proxy_id)
        ).scalar()
    assert revoked_at is not None
    assert client.get("/api/v1/powers-of-attorney", headers=_bearer(provider_key)).json() == []
    assert proxy_id not in [
        p["id"] for p in client.get("/api/v1/proxies", headers=_bearer(actor)).json()
    ]
