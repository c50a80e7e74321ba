"""Customer service acts for a customer only through the explicit step, with a reason: a banner
shows it, every action is audited with the customer and the reason, the customer gets a mail,
and stopping (or signing out) ends it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_world import World, oslo_today
from sqlalchemy import select
from test_web import csrf_of, sign_in

from hanport.portal.db.schema import audit_events, orders
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _open_form(world: World, csrf: str, key: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "action": "open",
        "terms_version_id": str(world.terms_id),
        "declaration": "inside_home",
        "module_option": "have",
        "terms_accepted": "yes",
        "idempotency_key": key,
    }


def _proxy_form(csrf: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "agent_email": "helper@example.no",
        "agent_name": "Hjelper",
        "scope": "view",
        "valid_to": (oslo_today() + timedelta(days=60)).isoformat(),
    }


def _audit(world: World, action: str) -> list[dict[str, Any]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.data_json).where(
                audit_events.c.action == action
            )
        ).all()
    return [{"actor": r.actor, **json.loads(r.data_json)} for r in rows]


def _start(client: TestClient, world: World, csrf: str, **extra: str) -> Any:
    data = {"csrf": csrf, "metering_point_id": world.mpid, "reason": "Kunden ringte inn", **extra}
    return client.post("/staff/act", data=data)


def test_staff_cannot_act_on_customer_pages_without_the_step(
    client: TestClient, world: World
) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    point = client.get(f"/points/{world.mpid}")
    assert 'id="act-first"' in point.text and f"/staff/act?mpid={world.mpid}" in point.text
    found = client.get("/staff/search", params={"q": "nordmann"})
    assert f"/staff/act?mpid={world.mpid}" in found.text
    refused = client.post(f"/points/{world.mpid}/orders", data=_open_form(world, csrf, "k-1"))
    assert refused.status_code == 403
    assert "Handle for kunden" in refused.text or "act for" in refused.text.lower()
    refused = client.post(f"/points/{world.mpid}/proxies", data=_proxy_form(csrf))
    assert refused.status_code == 403
    with world.engine.connect() as conn:
        assert conn.execute(select(orders.c.id)).first() is None
    refusals = _audit(world, "customer_action.refused")
    assert [r["reason"] for r in refusals] == ["not_acting", "not_acting"]


def test_the_reason_is_required_and_length_limited(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    page = client.get("/staff/act", params={"mpid": world.mpid})
    assert page.status_code == 200 and world.mpid in page.text
    empty = _start(client, world, csrf, reason="  ")
    assert empty.status_code == 422
    assert "begrunnelse" in empty.text
    long = _start(client, world, csrf, reason="x" * 201)
    assert long.status_code == 422
    assert "200" in long.text
    unknown = client.post(
        "/staff/act", data={"csrf": csrf, "metering_point_id": "nope", "reason": "Kunden ringte"}
    )
    assert unknown.status_code == 422
    assert 'id="acting-banner"' not in client.get("/staff").text
    assert _audit(world, "acting.started") == []


def test_acting_shows_a_banner_audits_mails_and_stops(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    started = _start(client, world, csrf)
    assert started.status_code == 200  # followed to the customer's point page
    assert 'id="acting-banner"' in started.text
    assert "Ola Nordmann" in started.text and "Kunden ringte inn" in started.text
    assert 'id="stop-acting"' in client.get("/staff").text  # on every page

    mail = world.mails("ola@example.no")[-1]
    assert "Kunden ringte inn" in mail[2] and world.mpid in mail[2]

    ordered = client.post(f"/points/{world.mpid}/orders", data=_open_form(world, csrf, "k-2"))
    assert ordered.status_code == 200, ordered.text[:500]
    [submitted] = _audit(world, "order.submitted")
    assert submitted["actor"] == world.staff.label
    assert submitted["acting_for"] == world.holder.label
    assert submitted["acting_reason"] == "Kunden ringte inn"
    [began] = _audit(world, "acting.started")
    assert began["acting_for"] == world.holder.label

    # giving a proxy on the customer's behalf needs the power-of-attorney reference
    assert client.post(f"/points/{world.mpid}/proxies", data=_proxy_form(csrf)).status_code == 403
    _start(client, world, csrf, poa_ref="FULLMAKT-2026-17")
    given = client.post(f"/points/{world.mpid}/proxies", data=_proxy_form(csrf))
    assert given.status_code == 200, given.text[:500]

    stopped = client.post("/staff/act/stop", data={"csrf": csrf})
    assert stopped.status_code == 200
    assert 'id="acting-banner"' not in stopped.text
    assert len(_audit(world, "acting.stopped")) == 1
    again = client.post(f"/points/{world.mpid}/orders", data=_open_form(world, csrf, "k-3"))
    assert again.status_code == 403


def test_acting_ends_with_the_staff_session(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    _start(client, world, csrf)
    client.post("/signout", data={"csrf": csrf_of(client.get("/staff").text)})
    csrf = sign_in(client, world, STAFF_EMAIL)
    assert 'id="acting-banner"' not in client.get("/staff").text
    refused = client.post(f"/points/{world.mpid}/orders", data=_open_form(world, csrf, "k-4"))
    assert refused.status_code == 403


def test_acting_is_only_for_the_customer_named(client: TestClient, world: World) -> None:
    from hanport.portal.seed import DEMO_METERS

    csrf = sign_in(client, world, STAFF_EMAIL)
    _start(client, world, csrf)
    other = DEMO_METERS[2].metering_point_id  # Kari's
    refused = client.post(f"/points/{other}/orders", data=_open_form(world, csrf, "k-5"))
    assert refused.status_code == 403


def test_the_audit_lines_name_acting_and_its_reason() -> None:
    from hanport.i18n import translations
    from hanport.portal.web.audit_lines import audit_line
    from hanport.portal.web.i18n import NAMES

    nb = translations("portal", "nb")
    started = audit_line(nb, NAMES, "acting.started", '{"acting_reason": "Kunden ringte"}')
    assert started == "Kundeservice begynte å handle for kunden (Kunden ringte)"
    ordered = audit_line(nb, NAMES, "order.submitted", '{"acting_reason": "Kunden ringte"}')
    assert "Kunden ringte" in ordered


def test_the_customer_is_told_when_acting_stops(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    _start(client, world, csrf)
    client.post("/staff/act/stop", data={"csrf": csrf})
    subject, body = world.mails("ola@example.no")[-1][1:]
    assert subject == "Kundeservice handler ikke lenger på dine vegne"
    assert "har sluttet å handle på dine vegne" in body

    # signing out while acting ends it as well, and says so
    _start(client, world, csrf)
    before = len(world.mails("ola@example.no"))
    client.post("/signout", data={"csrf": csrf_of(client.get("/staff").text)})
    assert len(world.mails("ola@example.no")) == before + 1
    assert world.mails("ola@example.no")[-1][1] == subject


@pytest.mark.both_databases
def test_a_staff_api_key_does_not_bypass_the_act_step(client: TestClient, world: World) -> None:
    from hanport.portal.services.api_keys import create_token

    assert world.staff.party_id is not None
    key = create_token(world.engine, world.staff.party_id, "back office", scope="act")
    auth = {"Authorization": f"Bearer {key}"}
    order = {
        "action": "open",
        "terms_version_id": world.terms_id,
        "declaration": "inside_home",
        "module_option": "have",
        "terms_accepted": True,
    }
    placed = client.post(f"/api/v1/metering-points/{world.mpid}/orders", headers=auth, json=order)
    assert placed.status_code == 403 and placed.json()["error"]["code"] == "act_for_customer_first"
    from hanport.portal.services.intake import submit_order

    existing = submit_order(world.engine, world.holder, world.open_request())  # the customer's
    cancelled = client.post(f"/api/v1/orders/{existing}/cancel", headers=auth)
    assert cancelled.status_code == 403
    revoked = client.post(f"/api/v1/proxies/{world.proxy_ids['act']}/revoke", headers=auth)
    assert (
        revoked.status_code == 403 and revoked.json()["error"]["code"] == "act_for_customer_first"
    )
    move = f"/api/v1/metering-points/{world.mpid}/move-notice"
    day = (oslo_today() + timedelta(days=20)).isoformat()
    moved = client.put(move, headers=auth, json={"move_out_date": day})
    assert moved.status_code == 403 and moved.json()["error"]["code"] == "act_for_customer_first"
    assert client.delete(move, headers=auth).status_code == 403
    refusals = _audit(world, "customer_action.refused")
    assert len(refusals) == 5 and {r["reason"] for r in refusals} == {"not_acting"}
    assert all(r["actor"] == world.staff.label for r in refusals)
