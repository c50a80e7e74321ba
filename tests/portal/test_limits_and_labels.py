"""Every text field has a limit the refusal names; a new tenant is told what happens next;
empty lists say so without table headers; the back office speaks the page's language."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import update
from test_web import sign_in

from hanport.portal.db.schema import orders
from hanport.portal.domain.limits import EMAIL_MAX, NAME_MAX, REASON_MAX, TRACKING_REF_MAX
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.intake import submit_order
from hanport.portal.services.proxies import party_by_email
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def test_the_proxy_form_names_its_limits(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}").text
    assert f'name="agent_name" maxlength="{NAME_MAX}"' in page
    assert f'name="agent_email" maxlength="{EMAIL_MAX}"' in page
    too_long = client.post(
        f"/points/{world.mpid}/proxies",
        data={
            "csrf": csrf,
            "agent_name": "E" * (NAME_MAX + 1),
            "agent_email": "e" * EMAIL_MAX + "@example.no",
            "scope": "view",
            "valid_to": "",
        },
    )
    assert too_long.status_code == 422
    assert f"Høyst {NAME_MAX} tegn" in too_long.text
    assert f"Høyst {EMAIL_MAX} tegn" in too_long.text


def test_back_office_fields_name_their_limits(client: TestClient, world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    with world.engine.begin() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(state="escalated"))
    csrf = sign_in(client, world, STAFF_EMAIL)
    client.get("/lang/en")
    reason = client.post(
        f"/staff/orders/{order_id}/override",
        data={"csrf": csrf, "kind": "retry", "reason": "r" * (REASON_MAX + 1)},
    )
    assert reason.status_code == 422 and f"At most {REASON_MAX} characters" in reason.text
    tracking = client.post(
        f"/staff/orders/{order_id}/shipment",
        data={"csrf": csrf, "state": "shipped", "tracking_ref": "7" * (TRACKING_REF_MAX + 1)},
    )
    assert tracking.status_code == 422
    assert f"At most {TRACKING_REF_MAX} characters" in tracking.text
    moves = client.post(
        "/staff/moves",
        data={
            "csrf": csrf,
            "metering_point_id": world.mpid,
            "effective_date": "2030-01-01",
            "new_email": "ny@example.no",
            "new_name": "N" * (NAME_MAX + 1),
            "new_lang": "nb",
        },
    )
    assert moves.status_code == 422 and f"At most {NAME_MAX} characters" in moves.text


def test_the_api_names_the_limit(client: TestClient, world: World) -> None:
    assert world.staff.party_id is not None
    key = create_token(world.engine, world.staff.party_id, "crm")
    answer = client.post(
        f"/api/v1/metering-points/{world.mpid}/customer-changes",
        json={"effective_date": "2030-01-01", "new_customer_name": "N" * (NAME_MAX + 1)},
        headers={"Authorization": f"Bearer {key}", "Accept-Language": "en"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"]["new_customer_name"] == (
        f"At most {NAME_MAX} characters"
    )
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert schema["CustomerChangeIn"]["properties"]["new_customer_name"]["maxLength"] == NAME_MAX


def test_a_new_tenant_is_told_what_happens_next(client: TestClient, world: World) -> None:
    with world.engine.begin() as conn:
        party_by_email(conn, "ny@example.no", "Ny Leietaker", "nb", utcnow())
    sign_in(client, world, "ny@example.no")
    page = client.get("/points").text
    assert "Nettopp flyttet inn?" in page and "Elhub" in page
    assert "<table" not in page and "<th" not in page  # no headers over nothing


def test_empty_lists_have_no_headers(client: TestClient, world: World) -> None:
    sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}").text
    assert 'id="no-orders"' in page and 'id="orders"' not in page


def test_the_case_page_speaks_the_pages_language(client: TestClient, world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    sign_in(client, world, STAFF_EMAIL)
    case = client.get(f"/staff/orders/{order_id}").text
    assert "(portalen" in case  # the channel as a word
    audit = case.split('id="audit"')[1].split("</ol>")[0]
    assert re.search(r"Bestilling mottatt \(Åpne, portal, holder\)", audit), audit
    assert "<details><summary>Lagret oppføring</summary>" in audit
    assert "order.submitted" in audit.split("<details>")[1]  # the raw entry, behind the toggle
    client.get("/lang/en")
    english = client.get(f"/staff/orders/{order_id}").text
    assert "Order received (Open, portal, holder)" in english


def test_why_a_case_came_to_customer_service_is_said_in_words(
    client: TestClient, world: World
) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    with world.engine.begin() as conn:
        conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(state="escalated", failure_cause="meter_no_answer")
        )
    sign_in(client, world, STAFF_EMAIL)
    pages = [client.get(path).text for path in ("/staff", f"/staff/orders/{order_id}")]
    for page in pages:
        assert "Måleren svarte ikke" in page and "meter_no_answer" not in page.split("<details>")[0]
    assert "Måleren svarte ikke" in client.get("/staff/sla").text
    client.get("/lang/en")
    case = client.get(f"/staff/orders/{order_id}").text
    assert '<span id="failure-cause">The meter did not answer</span>' in case


def test_the_case_page_names_people_and_writes_dates_the_pages_way(
    client: TestClient, world: World
) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    sign_in(client, world, STAFF_EMAIL)
    case = client.get(f"/staff/orders/{order_id}").text
    audit = case.split('id="audit"')[1].split("</ol>")[0]
    before_toggle = audit.split("<details>")[0]
    assert "Ola Nordmann · Bestilling mottatt" in before_toggle and "party:" not in before_toggle
    assert f"party:{world.holder.party_id}" in audit  # the stored entry keeps the label
    timeline = case.split('id="timeline"')[1].split("</table>")[0]
    assert "Ola Nordmann" in timeline and "party:" not in timeline
    proxies = case.split('id="case-proxies"')[1].split("</table>")[0]
    assert re.search(r"\d{2}\.\d{2}\.\d{4} – \d{2}\.\d{2}\.\d{4}", proxies), proxies
    assert not re.search(r"\d{4}-\d{2}-\d{2}", proxies)
    contracts = case.split('id="case-contracts"')[1].split("</table>")[0]
    assert "01.01.2020 – " in contracts
