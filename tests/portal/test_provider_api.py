"""Providers: staff registration and the organisation API key (real test database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_world import World, api_open_body
from sqlalchemy import select

from hanport.portal.db.schema import api_tokens, audit_events, orders, outbox, parties, providers
from hanport.portal.domain.access_requests import Scope
from hanport.portal.domain.sla import OSLO
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.seed import DEMO_METERS
from hanport.portal.services.access_requests import answer_request
from hanport.portal.services.api_keys import KeyUse, actor_for_key, token_hash
from hanport.portal.services.errors import Conflict, InvalidInput, Refused
from hanport.portal.services.providers import ORG_KIND, register_provider
from hanport.portal.services.proxies import revoke_proxy
from hanport.portal.web.app import PortalConfig, create_app

#: the provider and access-request services depend on the database's dialect and locking
pytestmark = pytest.mark.both_databases

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)


def test_staff_register_a_provider_whose_org_key_authenticates(world: World) -> None:
    registered = register_provider(
        world.engine, world.staff, "923 609 016", " Varmestyring AS ", "Drift@Varme.example"
    )
    with world.engine.connect() as conn:
        row = conn.execute(select(providers)).one()
        party = conn.execute(select(parties).where(parties.c.id == registered.party_id)).one()
        stored = conn.execute(
            select(api_tokens.c.token_hash).where(api_tokens.c.party_id == registered.party_id)
        ).scalar_one()
        audited = conn.execute(
            select(audit_events.c.action).where(audit_events.c.object_type == "provider")
        ).scalars()
        assert list(audited) == ["provider.registered"]
    assert (row.org_number, row.name, row.contact_email) == (
        "923609016",
        "Varmestyring AS",
        "drift@varme.example",
    )
    assert party.kind == ORG_KIND
    assert stored == token_hash(registered.org_key) != registered.org_key
    actor = actor_for_key(world.engine, KeyUse(registered.org_key, "GET", "/api/v1/x"))
    assert actor.party_id == registered.party_id


def test_a_wrong_check_digit_and_a_second_registration_are_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as bad:
        register_provider(world.engine, world.staff, "923609017", "", "not-mail")
    assert set(bad.value.field_texts("nb")) == {"org_number", "name", "contact_email"}
    register_provider(world.engine, world.staff, "923609016", "A", "a@b.example")
    with pytest.raises(Conflict) as again:
        register_provider(world.engine, world.staff, "923609016", "B", "b@b.example")
    assert again.value.code == "provider_exists"


def test_only_staff_register_providers(world: World) -> None:
    with pytest.raises(Refused):
        register_provider(world.engine, world.holder, "923609016", "A", "a@b.example")


# -- through the API ----------------------------------------------------------------------------


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _ask(client: TestClient, key: str, world: World, scope: str = "act") -> dict[str, Any]:
    today = datetime.now(OSLO).date()
    answer = client.post(
        "/api/v1/access-requests",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "metering_point_id": world.mpid,
            "customer_email": "ola@example.no",
            "scope": scope,
            "valid_from": today.isoformat(),
            "valid_to": (today + timedelta(days=300)).isoformat(),
            "reason": "Styre varmtvannsberederen etter strømprisen",
        },
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_provider_asks_the_customer_narrows_and_the_view_key_cannot_order(
    world: World, client: TestClient
) -> None:
    key = register_provider(world.engine, world.staff, "923609016", "V AS", "a@b.example").org_key
    auth = {"Authorization": f"Bearer {key}"}
    asked = _ask(client, key, world)
    assert asked["state"] == "pending"
    assert client.get(f"/api/v1/metering-points/{world.mpid}", headers=auth).status_code == 403
    answer_request(world.engine, world.holder, asked["id"], approve=True, scope=Scope.VIEW)
    listed = client.get("/api/v1/access-requests", headers=auth).json()
    assert [(r["state"], r["granted_scope"]) for r in listed] == [("approved", "view")]
    point = client.get(f"/api/v1/metering-points/{world.mpid}", headers=auth)
    assert point.status_code == 200 and point.json()["access"] == "proxy-view"
    order = client.post(
        f"/api/v1/metering-points/{world.mpid}/orders", headers=auth, json={"action": "close"}
    )
    assert order.status_code == 403


def test_a_provider_withdraws_a_pending_request_once(world: World, client: TestClient) -> None:
    key = register_provider(world.engine, world.staff, "923609016", "V AS", "a@b.example").org_key
    auth = {"Authorization": f"Bearer {key}"}
    asked = _ask(client, key, world, scope="view")
    url = f"/api/v1/access-requests/{asked['id']}/withdraw"
    assert client.post(url, headers=auth).json()["state"] == "withdrawn"
    assert client.post(url, headers=auth).status_code == 409


def test_revoking_the_granted_proxy_stops_the_provider(world: World, client: TestClient) -> None:
    key = register_provider(world.engine, world.staff, "923609016", "V AS", "a@b.example").org_key
    auth = {"Authorization": f"Bearer {key}"}
    asked = _ask(client, key, world)
    proxy_id = answer_request(world.engine, world.holder, asked["id"], approve=True)
    assert proxy_id is not None
    assert client.get(f"/api/v1/metering-points/{world.mpid}", headers=auth).status_code == 200
    revoke_proxy(world.engine, world.holder, proxy_id)
    assert client.get(f"/api/v1/metering-points/{world.mpid}", headers=auth).status_code == 403


def test_the_customers_mail_gives_the_configured_expiry_date(world: World) -> None:
    # [providers] request_expire_days = 3: the customer reads the date it expires, nn style
    config = PortalConfig(
        engine=world.engine,
        secret_key="test-secret-" * 3,
        access_request_expire_after=timedelta(days=3),
    )
    with world.engine.begin() as conn:
        conn.execute(parties.update().where(parties.c.email == "ola@example.no").values(lang="nn"))
    key = register_provider(world.engine, world.staff, "923609016", "V AS", "a@b.example").org_key
    with TestClient(create_app(config)) as client:
        _ask(client, key, world)
    with world.engine.connect() as conn:
        body = conn.execute(
            select(outbox.c.body).where(outbox.c.template == "access_requested")
        ).scalar_one()
    expires = (datetime.now(OSLO).date() + timedelta(days=3)).strftime("%d.%m.%Y")
    assert f"innan {expires}" in body and f"går han ut {expires}" in body


def _order(client: TestClient, auth: dict[str, str], mpid: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/metering-points/{mpid}/orders", headers=auth, json=body)


def _refusals(world: World) -> list[str]:
    with world.engine.connect() as conn:
        return list(
            conn.execute(
                select(audit_events.c.action).where(audit_events.c.action.like("%.refused"))
            ).scalars()
        )


async def test_an_act_provider_opens_and_closes_within_its_scope_a_view_one_is_refused(
    world: World, client: TestClient
) -> None:
    act_key = register_provider(world.engine, world.staff, "923609016", "V AS", "a@b.example")
    view_key = register_provider(world.engine, world.staff, "910000004", "W AS", "c@d.example")
    act = {"Authorization": f"Bearer {act_key.org_key}"}
    view = {"Authorization": f"Bearer {view_key.org_key}"}
    answer_request(world.engine, world.holder, _ask(client, act_key.org_key, world)["id"], True)
    viewed = _ask(client, view_key.org_key, world, scope="view")
    answer_request(world.engine, world.holder, viewed["id"], True)
    runner = JobRunner(world.engine, world.headend(), None, FAST)

    # the view provider may read the point but neither open nor close it: 403, audited, no order
    refused_before = len(_refusals(world))
    assert client.get(f"/api/v1/metering-points/{world.mpid}", headers=view).status_code == 200
    assert _order(client, view, world.mpid, api_open_body(client)).status_code == 403
    assert _order(client, view, world.mpid, {"action": "close"}).status_code == 403
    assert len(_refusals(world)) == refused_before + 2
    # nor may the act provider order on a point it holds no power of attorney for
    other = next(m.metering_point_id for m in DEMO_METERS if m.customer_email == "kari@example.no")
    assert _order(client, act, other, {"action": "close"}).status_code == 403
    with world.engine.connect() as conn:
        assert conn.execute(select(orders.c.id)).first() is None

    # within its scope the act provider opens the port, then closes it again
    for body, port in ((api_open_body(client), "open"), ({"action": "close"}, "closed")):
        placed = _order(client, act, world.mpid, body)
        assert placed.status_code == 201, placed.text
        assert placed.json()["state"] == "validated"
        for _ in range(10):
            await runner.run_orders()
        done = client.get(f"/api/v1/orders/{placed.json()['id']}", headers=act).json()
        assert done["state"] == "completed"
        point = client.get(f"/api/v1/metering-points/{world.mpid}", headers=act).json()
        assert (point["port"], point["access"]) == (port, "proxy-act")
    # the view provider sees the result of the act provider's orders, and still may not order
    assert _order(client, view, world.mpid, api_open_body(client)).status_code == 403
