"""A second identical submit (a double click, a resend, a client's retry) answers with the
first order instead of placing another that supersedes it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import func, select
from test_web import csrf_of, sign_in

from hanport.portal.db.schema import orders
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.errors import Conflict, InvalidInput
from hanport.portal.services.intake import place_order
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app


def _order_count(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(orders)).scalar_one())


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def test_the_same_key_and_request_place_one_order(world: World) -> None:
    first = place_order(world.engine, world.holder, world.open_request(idempotency_key="k-1"))
    again = place_order(world.engine, world.holder, world.open_request(idempotency_key="k-1"))
    assert not first.repeated and again.repeated
    assert again.order_id == first.order_id
    assert _order_count(world) == 1
    with pytest.raises(Conflict) as reused:
        place_order(
            world.engine,
            world.holder,
            world.open_request(idempotency_key="k-1", module_option="post"),
        )
    assert reused.value.code == "idempotency_key_reused"
    assert _order_count(world) == 1


def test_a_key_is_one_persons_and_forgotten_after_a_day(world: World) -> None:
    start = utcnow()
    first = place_order(
        world.engine, world.holder, world.open_request(idempotency_key="day"), now=start
    )
    # another person's key with the same value is theirs: it places their own order
    proxy = place_order(
        world.engine,
        world.act_proxy,
        world.open_request(idempotency_key="day"),
        now=start + timedelta(minutes=1),
    )
    assert not proxy.repeated and proxy.order_id != first.order_id
    later = place_order(
        world.engine,
        world.holder,
        world.open_request(idempotency_key="day"),
        now=start + timedelta(hours=25),
    )
    assert not later.repeated and later.order_id not in (first.order_id, proxy.order_id)


def test_a_bad_key_is_explained_with_its_limit(world: World) -> None:
    for bad in ("x" * 129, "has space", "ø"):
        with pytest.raises(InvalidInput) as invalid:
            place_order(world.engine, world.holder, world.open_request(idempotency_key=bad))
        assert "128" in invalid.value.field_texts("en")["idempotency_key"]
    assert _order_count(world) == 0


def test_the_api_answers_a_retry_with_the_first_order(client: TestClient, world: World) -> None:
    assert world.act_proxy.party_id is not None
    key = create_token(world.engine, world.act_proxy.party_id, "t")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "retry-7"}
    url = f"/api/v1/metering-points/{world.mpid}/orders"
    body = {
        "action": "open",
        "terms_version_id": world.terms_id,
        "terms_accepted": True,
        "declaration": "inside_home",
        "module_option": "have",
    }
    created = client.post(url, json=body, headers=headers)
    assert created.status_code == 201, created.text
    repeated = client.post(url, json=body, headers=headers)
    assert repeated.status_code == 200, repeated.text
    assert repeated.json()["id"] == created.json()["id"]
    other = client.post(url, json={**body, "module_option": "post"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert _order_count(world) == 1
    spec = client.get("/api/openapi.json").json()
    post = spec["paths"]["/api/v1/metering-points/{mpid}/orders"]["post"]
    assert "Idempotency-Key" in {p["name"].title() for p in post["parameters"]}
    assert {"200", "201", "409"} <= set(post["responses"])


def test_a_form_sent_twice_places_one_order(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}").text
    keys = re.findall(r'name="idempotency_key" value="([^"]+)"', page)
    assert keys and len(set(keys)) == len(keys)  # one per form
    again = re.findall(
        r'name="idempotency_key" value="([^"]+)"', client.get(f"/points/{world.mpid}").text
    )
    assert not set(again) & set(keys)  # fresh per rendered form
    form = {
        "csrf": csrf_of(page) or csrf,
        "action": "open",
        "terms_version_id": str(world.terms_id),
        "declaration": "locked_cabinet",
        "module_option": "have",
        "terms_accepted": "yes",
        "idempotency_key": keys[-1],
    }
    first = client.post(f"/points/{world.mpid}/orders", data=form)
    second = client.post(f"/points/{world.mpid}/orders", data=form)
    assert first.status_code == second.status_code == 200
    assert str(first.url) == str(second.url) and re.search(r"/orders/\d+$", str(first.url))
    assert _order_count(world) == 1
