"""Customer pages, back office and REST API through the real app (in-process client)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World, code_from, oslo_today
from sqlalchemy import select

from hanport.portal.db.schema import audit_events, orders
from hanport.portal.seed import DEMO_METERS, STAFF_EMAIL
from hanport.portal.services.api_keys import create_token
from hanport.portal.web.app import PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, world: World, email: str) -> str:
    page = client.get("/signin")
    csrf = csrf_of(page.text)
    answer = client.post("/signin", data={"csrf": csrf, "email": email})
    assert answer.status_code == 200
    code = code_from(world.mails(email)[-1][2])
    answer = client.post("/signin/code", data={"csrf": csrf, "email": email, "code": code})
    assert answer.status_code == 200, answer.text
    return csrf_of(answer.text)


def test_sign_in_sets_a_safe_session_cookie(client: TestClient, world: World) -> None:
    page = client.get("/signin")
    csrf = csrf_of(page.text)
    client.post("/signin", data={"csrf": csrf, "email": "ola@example.no"})
    code = code_from(world.mails("ola@example.no")[-1][2])
    answer = client.post(
        "/signin/code",
        follow_redirects=False,
        data={"csrf": csrf, "email": "ola@example.no", "code": code},
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert client.get("/points").status_code == 200
    # the code is single-use
    again = client.post(
        "/signin/code",
        data={"csrf": csrf_of(client.get("/signin").text), "email": "ola@example.no", "code": code},
    )
    assert again.status_code == 422


def test_secure_cookie_when_served_over_https(world: World) -> None:
    app = create_app(PortalConfig(engine=world.engine, secret_key="k" * 32))
    with TestClient(app, base_url="https://testserver") as client:
        answer = client.get("/signin")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-hanport_prefs=")
    assert "; Secure" in cookie and "; Path=/" in cookie and "Domain" not in cookie
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_unknown_address_looks_the_same_and_gets_no_mail(client: TestClient, world: World) -> None:
    csrf = csrf_of(client.get("/signin").text)
    answer = client.post("/signin", data={"csrf": csrf, "email": "nobody@example.no"})
    assert answer.status_code == 200
    assert "sendt en kode" in answer.text
    assert world.mails("nobody@example.no") == []


def test_sign_in_codes_are_rate_limited_and_guesses_counted(
    client: TestClient, world: World
) -> None:
    csrf = csrf_of(client.get("/signin").text)
    for _ in range(3):
        assert (
            client.post("/signin", data={"csrf": csrf, "email": "kari@example.no"}).status_code
            == 200
        )
    limited = client.post("/signin", data={"csrf": csrf, "email": "kari@example.no"})
    assert limited.status_code == 429
    assert "For mange koder" in limited.text
    code = code_from(world.mails("kari@example.no")[-1][2])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert (
            client.post(
                "/signin/code", data={"csrf": csrf, "email": "kari@example.no", "code": wrong}
            ).status_code
            == 422
        )
    # after five wrong guesses even the right code is refused
    assert (
        client.post(
            "/signin/code", data={"csrf": csrf, "email": "kari@example.no", "code": code}
        ).status_code
        == 422
    )


def test_bad_email_gets_a_message(client: TestClient) -> None:
    csrf = csrf_of(client.get("/signin").text)
    answer = client.post("/signin", data={"csrf": csrf, "email": "not-an-address"})
    assert answer.status_code == 422
    assert "Skriv en gyldig e-postadresse" in answer.text


def test_pages_need_sign_in(client: TestClient, world: World) -> None:
    answer = client.get(f"/points/{world.mpid}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin")


def test_forms_without_a_valid_csrf_token_are_refused(client: TestClient, world: World) -> None:
    sign_in(client, world, "ola@example.no")
    for token in ("", "forged"):
        answer = client.post(
            f"/points/{world.mpid}/orders", data={"csrf": token, "action": "close"}
        )
        assert answer.status_code == 403
        assert "Last siden på nytt" in answer.text
    with world.engine.connect() as conn:
        assert conn.execute(select(orders)).all() == []


@pytest.mark.both_databases
def test_customer_orders_and_sees_timeline(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    points = client.get("/points")
    assert world.mpid in points.text
    assert DEMO_METERS[2].metering_point_id not in points.text  # Kari's
    page = client.get(f"/points/{world.mpid}")
    assert "Vilkår for bruk av HAN-porten" in page.text
    terms_id = re.search(r'name="terms_version_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    missing = client.post(
        f"/points/{world.mpid}/orders",
        data={"csrf": csrf, "action": "open", "terms_version_id": terms_id},
    )
    assert missing.status_code == 422
    for message in (
        "Bekreft hvor måleren står",
        "Velg om du har HAN-modul",
        "Du må godta vilkårene",
    ):
        assert message in missing.text
    answer = client.post(
        f"/points/{world.mpid}/orders",
        data={
            "csrf": csrf,
            "action": "open",
            "terms_version_id": terms_id,
            "declaration": "locked_cabinet",
            "module_option": "post",
            "terms_accepted": "yes",
        },
    )
    assert answer.status_code == 200
    assert re.search(r"/orders/\d+$", str(answer.url))
    assert 'data-state="validated"' in answer.text
    assert "Bestilling mottatt" in answer.text
    assert "HAN-modul: Send modulen i posten" in answer.text
    assert '<li aria-current="step"><strong>bestilt</strong></li>' in answer.text
    # no address typed in: the module goes to the metering point's address
    assert "Leveringsadresse: Storgata 1, 6800 Førde" in answer.text
    assert 'http-equiv="refresh"' in answer.text  # status updates without JavaScript


def test_english_pages(client: TestClient, world: World) -> None:
    sign_in(client, world, "ola@example.no")
    client.get("/lang/en?next=/points")
    page = client.get(f"/points/{world.mpid}")
    assert "Order the HAN port opened" in page.text
    assert "Terms of use for the HAN port" in page.text


def test_no_idor_on_pages(client: TestClient, world: World) -> None:
    from hanport.portal.services.intake import submit_order

    ola_order = submit_order(world.engine, world.holder, world.open_request())
    csrf = sign_in(client, world, "kari@example.no")
    assert client.get(f"/points/{world.mpid}").status_code == 403
    assert client.get(f"/orders/{ola_order}").status_code == 403
    assert client.get("/orders/999999").status_code == 403  # same answer: ids cannot be probed
    sure = {"csrf": csrf, "confirm": "yes"}  # past the "are you sure?" pages
    assert client.post(f"/orders/{ola_order}/cancel", data=sure).status_code == 403
    assert client.get(f"/orders/{ola_order}/cancel").status_code == 403
    assert (
        client.post(f"/points/{world.mpid}/orders", data={**sure, "action": "close"}).status_code
        == 403
    )
    assert client.get(f"/points/{world.mpid}/close").status_code == 403
    proxy_id = world.proxy_ids["act"]
    assert client.post(f"/proxies/{proxy_id}/revoke", data=sure).status_code == 403
    assert client.get(f"/proxies/{proxy_id}/revoke").status_code == 403
    assert client.get("/staff").status_code == 403
    assert client.get(f"/staff/orders/{ola_order}").status_code == 403
    with world.engine.connect() as conn:
        refused = (
            conn.execute(
                select(audit_events.c.action).where(audit_events.c.actor == world.stranger.label)
            )
            .scalars()
            .all()
        )
    assert {
        "point.view.refused",
        "order.view.refused",
        "order.cancel.refused",
        "order.submit.refused",
        "proxy.revoke.refused",
    } <= set(refused)


@pytest.mark.both_databases
def test_a_number_past_the_tables_keys_is_invalid_input_not_a_crash(
    client: TestClient, world: World
) -> None:
    # PostgreSQL's integer keys end at 2^31 - 1; a larger number once reached the query
    too_large = 2**31
    sign_in(client, world, "ola@example.no")
    page = client.get(f"/orders/{too_large}")
    assert page.status_code == 422
    assert "Traceback" not in page.text
    assert client.get(f"/proxies/{too_large}/revoke").status_code == 422
    key = create_token(world.engine, world.holder.party_id, "app")
    answer = client.get(f"/api/v1/orders/{too_large}", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_input"


def test_one_click_close_and_proxy_invite_and_revoke(client: TestClient, world: World) -> None:
    from sqlalchemy import update

    from hanport.portal.db.schema import port_states

    with world.engine.begin() as conn:
        conn.execute(
            update(port_states)
            .where(port_states.c.metering_point_id == world.mpid)
            .values(state="open")
        )
    csrf = sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}")
    assert 'id="close-now"' in page.text
    # closing asks first: a close without the confirmation shows the question, orders nothing
    asked = client.post(f"/points/{world.mpid}/orders", data={"csrf": csrf, "action": "close"})
    assert asked.status_code == 200 and str(asked.url).endswith(f"/points/{world.mpid}/close")
    assert "Stenge HAN-porten?" in asked.text
    confirm = {"csrf": csrf, "action": "close", "confirm": "yes"}
    answer = client.post(f"/points/{world.mpid}/orders", data=confirm)
    assert answer.status_code == 200
    assert "Stenge" in answer.text

    bad = client.post(
        f"/points/{world.mpid}/proxies",
        data={"csrf": csrf, "agent_name": "", "agent_email": "x", "scope": "all", "valid_to": ""},
    )
    assert bad.status_code == 422
    for message in (
        "Skriv navnet",
        "gyldig e-postadresse",
        "Velg innsyn eller bestille",
        "må ha en sluttdato",
    ):
        assert message in bad.text
    good = client.post(
        f"/points/{world.mpid}/proxies",
        data={
            "csrf": csrf,
            "agent_name": "Elektriker Eli",
            "agent_email": "eli@example.no",
            "scope": "act",
            "valid_to": "2099-01-01",
        },
    )
    assert good.status_code == 422
    assert "høyst to år" in good.text
    from datetime import timedelta

    good = client.post(
        f"/points/{world.mpid}/proxies",
        data={
            "csrf": csrf,
            "agent_name": "Elektriker Eli",
            "agent_email": "eli@example.no",
            "scope": "act",
            "valid_to": (oslo_today() + timedelta(days=90)).isoformat(),
        },
    )
    assert good.status_code == 200
    assert "Elektriker Eli" in good.text
    proxy_id = re.findall(r'href="/proxies/(\d+)/revoke', good.text)[0]
    asked = client.get(f"/proxies/{proxy_id}/revoke?back=/points/{world.mpid}")
    assert "Elektriker Eli" in asked.text and 'name="confirm" value="yes"' in asked.text
    mails_before = len(world.mails("eli@example.no"))
    unconfirmed = client.post(
        f"/proxies/{proxy_id}/revoke", data={"csrf": csrf, "back": f"/points/{world.mpid}"}
    )
    assert str(unconfirmed.url).endswith(f"/proxies/{proxy_id}/revoke?back=/points/{world.mpid}")
    assert len(world.mails("eli@example.no")) == mails_before  # nothing revoked yet
    revoked = client.post(
        f"/proxies/{proxy_id}/revoke",
        data={"csrf": csrf, "back": f"/points/{world.mpid}", "confirm": "yes"},
    )
    assert revoked.status_code == 200
    assert any("fullmakt" in s for _, s, _ in world.mails("eli@example.no"))


def test_back_office(client: TestClient, world: World) -> None:
    from hanport.portal.services.intake import submit_order

    order_id = submit_order(world.engine, world.holder, world.open_request())
    csrf = sign_in(client, world, STAFF_EMAIL)
    queue = client.get("/staff")
    assert f"/staff/orders/{order_id}" in queue.text
    case = client.get(f"/staff/orders/{order_id}")
    assert "Ola Nordmann" in case.text
    assert "submitted" in case.text
    assert "order.submitted" in case.text  # the audit entries of the case
    bad = client.post(
        f"/staff/orders/{order_id}/override", data={"csrf": csrf, "kind": "complete", "reason": ""}
    )
    assert bad.status_code == 422
    assert "Skriv en begrunnelse" in bad.text
    refused = client.post(
        f"/staff/orders/{order_id}/override",
        data={"csrf": csrf, "kind": "complete", "reason": "done on site"},
    )
    assert refused.status_code == 409  # only escalated cases are overridden
    assert client.get("/staff/sla").status_code == 200
    found = client.get("/staff/search", params={"q": "nordmann"})
    assert world.mpid in found.text
    assert world.mpid in client.get("/staff/search", params={"q": world.meter_id}).text
    moves = client.post(
        "/staff/moves",
        data={"csrf": csrf, "metering_point_id": world.mpid, "effective_date": "31.12.2026"},
    )
    assert moves.status_code == 422
    assert "ÅÅÅÅ-MM-DD" in moves.text


def test_rest_api_with_a_proxy_token(client: TestClient, world: World) -> None:
    assert world.act_proxy.party_id is not None and world.view_proxy.party_id is not None
    act = {"Authorization": "Bearer " + create_token(world.engine, world.act_proxy.party_id, "t")}
    view = {"Authorization": "Bearer " + create_token(world.engine, world.view_proxy.party_id, "t")}
    assert client.get("/api/v1/metering-points").status_code == 401
    assert (
        client.get("/api/v1/metering-points", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    listed = client.get("/api/v1/metering-points", headers=act).json()
    assert [p["metering_point_id"] for p in listed] == [world.mpid]
    assert listed[0]["access"] == "proxy-act"
    terms = client.get("/api/v1/terms/current").json()
    body = {
        "action": "open",
        "terms_version_id": terms["id"],
        "terms_accepted": True,
        "declaration": "inside_home",
        "module_option": "have",
        "terms_lang": "en",
    }
    assert "change_summary" in terms
    refused = client.post(f"/api/v1/metering-points/{world.mpid}/orders", json=body, headers=view)
    assert refused.status_code == 403
    invalid = client.post(
        f"/api/v1/metering-points/{world.mpid}/orders",
        json={**body, "terms_accepted": False},
        headers=act,
    )
    assert invalid.status_code == 422
    assert "terms_accepted" in invalid.json()["error"]["fields"]
    created = client.post(f"/api/v1/metering-points/{world.mpid}/orders", json=body, headers=act)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["state"] == "validated"
    assert order["timeline"][0]["event"] == "submitted"
    with world.engine.connect() as conn:
        accepted = conn.execute(
            select(orders.c.terms_lang, orders.c.terms_sha256).where(orders.c.id == order["id"])
        ).one()
    assert accepted == ("en", terms["sha256"])  # what the provider showed, and its exact text
    assert client.get(f"/api/v1/orders/{order['id']}", headers=view).status_code == 200
    other = DEMO_METERS[2].metering_point_id
    assert client.get(f"/api/v1/metering-points/{other}", headers=act).status_code == 403
    schema = client.get("/api/openapi.json").json()
    assert "/api/v1/metering-points/{mpid}/orders" in schema["paths"]
    assert not any(path.startswith("/staff") for path in schema["paths"])


def test_staff_tracks_the_module_shipment(client: TestClient, world: World) -> None:
    from hanport.portal.db.schema import shipments
    from hanport.portal.services.intake import submit_order

    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    csrf = sign_in(client, world, STAFF_EMAIL)
    bad = client.post(f"/staff/orders/{order_id}/shipment", data={"csrf": csrf, "state": "lost"})
    assert bad.status_code == 422
    good = client.post(
        f"/staff/orders/{order_id}/shipment",
        data={"csrf": csrf, "state": "shipped", "tracking_ref": "70701234567"},
    )
    assert good.status_code == 200
    assert "70701234567" in good.text
    with world.engine.connect() as conn:
        row = conn.execute(select(shipments).where(shipments.c.order_id == order_id)).one()
    assert (row.state, row.tracking_ref) == ("shipped", "70701234567")


def test_one_click_close_from_the_list(client: TestClient, world: World) -> None:
    from sqlalchemy import update

    from hanport.portal.db.schema import port_states

    with world.engine.begin() as conn:
        conn.execute(
            update(port_states)
            .where(port_states.c.metering_point_id == world.mpid)
            .values(state="open")
        )
    csrf = sign_in(client, world, "ola@example.no")
    listing = client.get("/points").text
    assert f'href="/points/{world.mpid}/close"' in listing  # one click to the question
    asked = client.get(f"/points/{world.mpid}/close").text
    assert 'name="confirm" value="yes"' in asked
    key = re.search(r'name="idempotency_key" value="([^"]+)"', asked).group(1)  # type: ignore[union-attr]
    sure = {"csrf": csrf, "action": "close", "confirm": "yes", "idempotency_key": key}
    answer = client.post(f"/points/{world.mpid}/orders", data=sure)
    assert 'data-state="validated"' in answer.text


def test_one_client_cannot_spray_codes_over_many_addresses(
    client: TestClient, world: World
) -> None:
    csrf = csrf_of(client.get("/signin").text)
    for index in range(10):
        answer = client.post("/signin", data={"csrf": csrf, "email": f"p{index}@example.no"})
        assert answer.status_code == 200
    limited = client.post("/signin", data={"csrf": csrf, "email": "ola@example.no"})
    assert limited.status_code == 429
    with world.engine.connect() as conn:
        refusal = conn.execute(
            select(audit_events).where(audit_events.c.action == "signin.code.refused")
        ).one()
    assert '"reason": "rate_limited"' in refusal.data_json


def test_customer_change_through_the_api_is_staff_only(client: TestClient, world: World) -> None:

    assert world.staff.party_id is not None and world.holder.party_id is not None
    staff = {"Authorization": "Bearer " + create_token(world.engine, world.staff.party_id, "elhub")}
    holder = {"Authorization": "Bearer " + create_token(world.engine, world.holder.party_id, "x")}
    body = {
        "effective_date": oslo_today().isoformat(),
        "new_customer_email": "nina@example.no",
        "new_customer_name": "Nina Ny",
    }
    url = f"/api/v1/metering-points/{world.mpid}/customer-changes"
    assert client.post(url, json=body, headers=holder).status_code == 403
    bad = client.post(url, json={**body, "effective_date": "soon"}, headers=staff)
    assert bad.status_code == 422
    assert "effective_date" in bad.json()["error"]["fields"]
    created = client.post(url, json=body, headers=staff)
    assert created.status_code == 201, created.text
    assert created.json()["metering_point_id"] == world.mpid


def test_security_headers(client: TestClient) -> None:
    page = client.get("/signin")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "content-security-policy" not in client.get("/api/docs").headers


def test_api_errors_speak_the_callers_language_with_api_field_names(
    client: TestClient, world: World
) -> None:
    assert world.staff.party_id is not None and world.act_proxy.party_id is not None
    key = create_token(world.engine, world.act_proxy.party_id, "t")
    english = {"Authorization": f"Bearer {key}", "Accept-Language": "en-GB,en;q=0.9,nb;q=0.5"}
    bokmal = {"Authorization": f"Bearer {key}", "Accept-Language": "nb-NO,nb;q=0.9,en;q=0.5"}
    body = {"action": "open", "declaration": "in the garden", "terms_accepted": True}
    url = f"/api/v1/metering-points/{world.mpid}/orders"
    answer = client.post(url, json=body, headers=english)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["fields"]["declaration"].startswith("Invalid value; allowed:")
    assert (
        client.post(url, json=body, headers=bokmal)
        .json()["error"]["fields"]["declaration"]
        .startswith("Ugyldig verdi")
    )
    refused = client.post(url, json={**body, "declaration": "inside_home"}, headers=english)
    assert refused.json()["error"]["message"].startswith("The form has errors")

    staff = {
        "Authorization": "Bearer " + create_token(world.engine, world.staff.party_id, "t"),
        "Accept-Language": "en",
    }
    change = client.post(
        f"/api/v1/metering-points/{world.mpid}/customer-changes",
        json={"effective_date": "2026-12-01", "new_customer_email": "not-an-address"},
        headers=staff,
    )
    assert change.status_code == 422
    assert set(change.json()["error"]["fields"]) == {"new_customer_email"}

    point = client.get(f"/api/v1/metering-points/{world.mpid}", headers=english).json()
    assert point["access"] == "proxy-act"


def test_shipment_update_needs_a_shipment_and_a_valid_step(
    client: TestClient, world: World
) -> None:
    from hanport.portal.services.intake import submit_order

    no_module = submit_order(world.engine, world.holder, world.open_request(module_option="have"))
    csrf = sign_in(client, world, STAFF_EMAIL)
    with world.engine.connect() as conn:
        before = conn.execute(select(audit_events.c.seq)).all()
    for order_id in (no_module, 999_999):
        answer = client.post(
            f"/staff/orders/{order_id}/shipment", data={"csrf": csrf, "state": "shipped"}
        )
        assert answer.status_code == 404
    with world.engine.connect() as conn:
        assert conn.execute(select(audit_events.c.seq)).all() == before  # nothing recorded
    other = DEMO_METERS[2].metering_point_id
    posted = submit_order(
        world.engine,
        world.stranger,
        world.open_request(metering_point_id=other, module_option="post"),
    )
    backwards = client.post(
        f"/staff/orders/{posted}/shipment", data={"csrf": csrf, "state": "delivered"}
    )
    assert backwards.status_code == 409  # requested -> delivered skips shipping
    assert (
        client.post(
            f"/staff/orders/{posted}/shipment", data={"csrf": csrf, "state": "picked_up"}
        ).status_code
        == 409
    )  # a posted module is not picked up


def test_unicode_digits_in_numbers_are_refused_not_a_server_error(
    client: TestClient, world: World
) -> None:
    """'²'.isdigit() is True but int('²') fails: such input must get a clear answer (review)."""
    csrf = sign_in(client, world, "ola@example.no")
    form = client.post(
        f"/points/{world.mpid}/orders",
        data={"csrf": csrf, "action": "open", "terms_version_id": "²"},
    )
    assert form.status_code == 422
    sign_in(client, world, STAFF_EMAIL)
    assert client.get("/staff", params={"page": "²"}).status_code == 200
