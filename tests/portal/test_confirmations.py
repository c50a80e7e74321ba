"""Close, cancel and revoke ask first (a page of its own, no JavaScript); the override offers
only what the order's state allows; a refusal says "no access"."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select, update
from test_web import sign_in

from hanport.portal.db.schema import orders
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.intake import submit_order
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _state(world: World, order_id: int) -> str:
    with world.engine.connect() as conn:
        return str(conn.execute(select(orders.c.state).where(orders.c.id == order_id)).scalar())


def test_cancelling_asks_first(client: TestClient, world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    csrf = sign_in(client, world, "ola@example.no")
    page = client.get(f"/orders/{order_id}").text
    assert f'href="/orders/{order_id}/cancel"' in page
    asked = client.post(f"/orders/{order_id}/cancel", data={"csrf": csrf})
    assert str(asked.url).endswith(f"/orders/{order_id}/cancel")
    assert "Avbryte bestillingen?" in asked.text
    assert re.search(r'<form method="post" action="/orders/\d+/cancel"', asked.text)
    assert f'href="/orders/{order_id}"' in asked.text  # "no, go back"
    assert _state(world, order_id) == "validated"
    done = client.post(f"/orders/{order_id}/cancel", data={"csrf": csrf, "confirm": "yes"})
    assert done.status_code == 200
    assert _state(world, order_id) == "cancelled"


def test_a_refusal_says_no_access(client: TestClient, world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    sign_in(client, world, "kari@example.no")
    refused = client.get(f"/orders/{order_id}")
    assert refused.status_code == 403
    assert "<h1>Ingen tilgang</h1>" in refused.text and "gikk galt" not in refused.text
    client.get("/lang/en")
    assert "<h1>No access</h1>" in client.get(f"/orders/{order_id}").text
    assert client.get(f"/orders/{order_id}/cancel").status_code == 403
    assert "<h1>Not found</h1>" in client.get("/no-such-page").text


def test_the_override_offers_what_the_state_allows(client: TestClient, world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    sign_in(client, world, STAFF_EMAIL)
    waiting = client.get(f"/staff/orders/{order_id}").text
    assert 'id="no-override"' in waiting and 'name="kind"' not in waiting
    with world.engine.begin() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(state="escalated"))
    escalated = client.get(f"/staff/orders/{order_id}").text
    offered = re.findall(r'name="kind" value="(\w+)"', escalated)
    assert offered == ["retry", "complete", "fail"]
