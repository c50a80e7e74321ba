"""A second identical submit (a double click, a resend, a client's retry) answers with the
first order instead of placing another that supersedes it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import func, select
from test_web import csrf_of, sign_in

from hanport.portal.db.schema import orders
from hanport.portal.domain.model import Channel
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.audit import verify_chain
from hanport.portal.services.errors import Conflict, InvalidInput
from hanport.portal.services.intake import Placed, place_order
from hanport.portal.services.notify import SmtpMailer
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app
from services.smtp import SmtpCatcher


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


# -- two tabs: two rendered forms, two keys, the same order ---------------------------------------

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)


def _mailed(world: World, smtp_server: SmtpCatcher) -> list[str]:
    """The subjects of the mails the outbox sends now through the SMTP server, to Ola."""
    smtp_server.clear()
    runner = JobRunner(
        world.engine, world.headend(), SmtpMailer(smtp_server.host, smtp_server.port), FAST
    )
    asyncio.run(runner.run_outbox())
    return [str(m["Subject"]) for m in smtp_server.messages if m["To"] == "ola@example.no"]


def _order_form_key(page: str) -> str:
    """The hidden key of the page's order form (each rendered form has its own)."""
    found = re.search(r'id="order-form">.*?name="idempotency_key" value="([^"]+)"', page, re.S)
    assert found, page[:500]
    return found.group(1)


def _two_tabs(client: TestClient, world: World, smtp_server: SmtpCatcher) -> list[dict[str, str]]:
    """Ola signed in, with the point's page open in two tabs: each tab's order form, filled in
    as the browser sends it (the delivery fields come along whatever the module choice)."""
    sign_in(client, world, "ola@example.no")
    _mailed(world, smtp_server)  # the sign-in code goes out first
    tabs = []
    for _ in range(2):
        page = client.get(f"/points/{world.mpid}").text
        tabs.append(
            {
                "csrf": csrf_of(page),
                "action": "open",
                "idempotency_key": _order_form_key(page),
                "terms_version_id": str(world.terms_id),
                "declaration": "inside_home",
                "module_option": "post",
                "delivery_street": "Storgata 1",
                "delivery_postcode": "6800",
                "delivery_city": "Førde",
                "pickup_place": "",
                "terms_accepted": "yes",
            }
        )
    assert tabs[0]["idempotency_key"] != tabs[1]["idempotency_key"]
    return tabs


def _states(world: World) -> dict[int, str]:
    with world.engine.connect() as conn:
        return {r.id: r.state for r in conn.execute(select(orders.c.id, orders.c.state))}


def test_two_tabs_submitting_the_same_order_place_one(
    client: TestClient,
    world: World,
    smtp_server: SmtpCatcher,
) -> None:
    first_tab, second_tab = _two_tabs(client, world, smtp_server)
    first = client.post(f"/points/{world.mpid}/orders", data=first_tab)
    second = client.post(f"/points/{world.mpid}/orders", data=second_tab)
    assert first.status_code == second.status_code == 200
    assert re.search(r"/orders/\d+$", str(first.url)) and str(second.url) == str(first.url)
    order_id = int(str(first.url).rsplit("/", 1)[1])
    assert _states(world) == {order_id: "validated"}  # nothing superseded
    assert _mailed(world, smtp_server) == [f"Vi har mottatt bestillingen din (nr. {order_id})"]


def test_a_second_tab_asking_for_something_else_supersedes_the_first(
    client: TestClient,
    world: World,
    smtp_server: SmtpCatcher,
) -> None:
    first_tab, second_tab = _two_tabs(client, world, smtp_server)
    first = client.post(f"/points/{world.mpid}/orders", data=first_tab)
    elsewhere = {**second_tab, "delivery_street": "Storgata 2"}  # the module to another door
    second = client.post(f"/points/{world.mpid}/orders", data=elsewhere)
    first_id, second_id = (int(str(r.url).rsplit("/", 1)[1]) for r in (first, second))
    assert _states(world) == {first_id: "superseded", second_id: "validated"}
    assert sorted(_mailed(world, smtp_server)) == sorted(
        [
            f"Vi har mottatt bestillingen din (nr. {first_id})",
            f"Vi har mottatt bestillingen din (nr. {second_id})",
            f"Bestilling {first_id} er erstattet av bestilling {second_id}",
        ]
    )


def test_the_api_places_a_new_order_for_a_new_key(world: World) -> None:
    """An API client says what a repeat is with its key: a new key is a new order."""
    first = place_order(
        world.engine, world.act_proxy, world.open_request(idempotency_key="a"), Channel.API
    )
    second = place_order(
        world.engine, world.act_proxy, world.open_request(idempotency_key="b"), Channel.API
    )
    assert not second.repeated
    assert _states(world) == {first.order_id: "superseded", second.order_id: "validated"}


def test_the_same_submit_a_day_later_is_a_new_order(world: World) -> None:
    start = utcnow()
    first = place_order(world.engine, world.holder, world.open_request(), now=start)
    again = place_order(
        world.engine, world.holder, world.open_request(), now=start + timedelta(minutes=5)
    )
    assert again == Placed(first.order_id, repeated=True)
    later = place_order(
        world.engine, world.holder, world.open_request(), now=start + timedelta(hours=25)
    )
    assert not later.repeated
    assert _states(world) == {first.order_id: "superseded", later.order_id: "validated"}


@pytest.mark.both_databases
def test_two_tabs_at_the_same_instant_place_one_order(world: World) -> None:
    """Two web workers get the same order from two tabs at once: the point's lock decides them
    in turn, and the later finds the earlier."""
    start = Barrier(2)

    def submit(key: str) -> int:
        start.wait(10)
        request = world.open_request(idempotency_key=key)
        return place_order(world.engine, world.holder, request).order_id

    with ThreadPoolExecutor(2) as pool:
        placed = list(pool.map(submit, ["tab-1", "tab-2"]))
    assert placed[0] == placed[1]
    assert _states(world) == {placed[0]: "validated"}
    receipts = [s for _, s, _ in world.mails("ola@example.no") if "mottatt" in s]
    assert receipts == [f"Vi har mottatt bestillingen din (nr. {placed[0]})"]
    assert verify_chain(world.engine).ok
