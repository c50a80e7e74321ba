"""After a move the new customer sees only their own period: orders, proxies, notes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World, oslo_today
from sqlalchemy import select
from test_web import sign_in

from hanport.portal.db.schema import orders, parties
from hanport.portal.domain.model import Actor, Role
from hanport.portal.seed import DEMO_METERS
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.intake import submit_order
from hanport.portal.services.lifecycle import override_order
from hanport.portal.services.moves import apply_due_changes, register_customer_change
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _party(world: World, email: str) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(parties.c.id).where(parties.c.email == email)).scalar_one()


def test_new_customer_does_not_see_the_old_customers_orders_or_agents(
    client: TestClient, world: World
) -> None:
    old_order = submit_order(world.engine, world.holder, world.open_request())
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=oslo_today().isoformat(),  # same day: the boundary is the change itself
        new_email="nina@example.no",
        new_name="Nina Ny",
    )
    apply_due_changes(world.engine, oslo_today())
    with world.engine.connect() as conn:
        close_id = conn.execute(
            select(orders.c.id).where(orders.c.channel == "system")
        ).scalar_one()

    sign_in(client, world, "nina@example.no")
    page = client.get(f"/points/{world.mpid}")
    assert page.status_code == 200
    assert f'/orders/{old_order}"' not in page.text
    assert f'/orders/{close_id}"' in page.text  # the close of her own period is hers to follow
    for agent in ("agent@provider.example", "viewer@example.no"):
        assert agent not in page.text
    assert client.get(f"/orders/{old_order}").status_code == 403
    assert client.get(f"/orders/{close_id}").status_code == 200

    nina = _party(world, "nina@example.no")
    token = {"Authorization": "Bearer " + create_token(world.engine, nina, "t")}
    assert client.get(f"/api/v1/orders/{old_order}", headers=token).status_code == 403
    assert client.get(f"/api/v1/orders/{close_id}", headers=token).status_code == 200


def test_customers_do_not_see_customer_services_override_reasons(
    client: TestClient, world: World
) -> None:
    no_han = DEMO_METERS[5]
    ingrid_id = _party(world, "ingrid@example.no")
    ingrid = Actor(ingrid_id, Role.CUSTOMER, "Ingrid")
    order_id = submit_order(
        world.engine, ingrid, world.open_request(metering_point_id=no_han.metering_point_id)
    )
    reason = "Naboen Per sa at Ingrid flytter snart"
    override_order(world.engine, world.staff, order_id, kind="fail", reason=reason)
    token = {"Authorization": "Bearer " + create_token(world.engine, ingrid_id, "t")}
    seen = client.get(f"/api/v1/orders/{order_id}", headers=token).json()
    assert seen["timeline"][-1]["event"] == "override_fail"
    assert reason not in str(seen)
    assert world.staff.party_id is not None
    staff = {"Authorization": "Bearer " + create_token(world.engine, world.staff.party_id, "t")}
    assert reason in str(client.get(f"/api/v1/orders/{order_id}", headers=staff).json())
