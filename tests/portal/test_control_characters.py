"""No text with a control character reaches the database: every form field, API body field and
path or query parameter holding NUL (which PostgreSQL refuses in text: a 500 before) or another
control character is refused with 422 and the reason, in the page's or the API's language."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World, oslo_today
from test_web import sign_in

from hanport.portal.domain.limits import has_control_characters
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.providers import register_provider
from hanport.portal.web.app import PortalConfig, create_app

pytestmark = pytest.mark.both_databases

NUL = "Ola\x00Nordmann"
#: the refusal, as each language's page or error body says it
SAID = {
    "nb": "Fjern kontrolltegnet (for eksempel NUL)",
    "nn": "Fjern kontrollteiknet (til dømes NUL)",
    "en": "Remove the control character (such as NUL)",
}

#: every form a customer posts: its path and fields (with ordinary values)
CUSTOMER_FORMS: list[tuple[str, dict[str, str]]] = [
    (
        "/points/{mpid}/orders",
        {
            "action": "open",
            "terms_version_id": "1",
            "declaration": "inside_home",
            "module_option": "post",
            "terms_accepted": "yes",
            "idempotency_key": "k-1",
            "delivery_street": "Storgata 1",
            "delivery_postcode": "6800",
            "delivery_city": "Førde",
            "pickup_place": "demo-nett-kundesenter",
        },
    ),
    (
        "/points/{mpid}/proxies",
        {"agent_email": "a@example.no", "agent_name": "A", "scope": "view", "valid_to": ""},
    ),
    ("/points/{mpid}/move", {"move_out_date": "2030-01-01", "idempotency_key": "m-1"}),
    ("/points/{mpid}/move/withdraw", {"confirm": "yes"}),
    ("/proxies/1/revoke", {"back": "/points", "confirm": "yes"}),
    ("/orders/1/cancel", {"confirm": "yes"}),
    ("/requests/1/approve", {"scope": "view", "valid_to": ""}),
    ("/requests/1/decline", {"confirm": "yes"}),
    ("/tokens", {"name": "My reader", "scope": "view", "expires_on": ""}),
]
#: every form of the back office
STAFF_FORMS: list[tuple[str, dict[str, str]]] = [
    ("/staff/orders/1/override", {"kind": "retry", "reason": "The meter answered late"}),
    ("/staff/orders/1/shipment", {"state": "shipped", "tracking_ref": "70701234"}),
    (
        "/staff/moves",
        {
            "metering_point_id": "{mpid}",
            "effective_date": "2030-01-01",
            "new_email": "ny@example.no",
            "new_name": "Ny Kunde",
            "new_lang": "nb",
        },
    ),
    (
        "/staff/terms",
        {
            "version": "9",
            "effective_from": "2030-01-01",
            "change_summary": "Clearer",
            "text_nb": "Vilkår",
            "text_en": "Terms",
            "text_nn": "Vilkår",
            "step": "preview",
        },
    ),
    ("/staff/act", {"metering_point_id": "{mpid}", "reason": "Phoned in", "poa_ref": "F-1"}),
    (
        "/staff/providers",
        {"org_number": "923609016", "name": "Strøm AS", "contact_email": "post@strom.example"},
    ),
]


#: fields whose format the API explains first (its pattern), a control character among the rest
EXPLAINED = {
    "delivery_postcode": "The postcode is four digits, e.g. 6800",
    "pickup_place": "Choose one of the pick-up places shown",
}


def _client(world: World) -> TestClient:
    return TestClient(create_app(PortalConfig(engine=world.engine, secret_key="nul-secret-" * 3)))


@pytest.fixture
def customer(world: World) -> Iterator[tuple[TestClient, str]]:
    with _client(world) as client:
        yield client, sign_in(client, world, "ola@example.no")


@pytest.fixture
def staff(world: World) -> Iterator[tuple[TestClient, str]]:
    with _client(world) as client:
        yield client, sign_in(client, world, STAFF_EMAIL)


def _each_field_with_nul(
    client: TestClient, csrf: str, world: World, forms: list[tuple[str, dict[str, str]]]
) -> None:
    for path, fields in forms:
        ordinary = {name: value.format(mpid=world.mpid) for name, value in fields.items()}
        for name in ordinary:
            sent = {**ordinary, "csrf": csrf, name: NUL}
            answer = client.post(path.format(mpid=world.mpid), data=sent)
            assert answer.status_code == 422, (path, name, answer.status_code, answer.text)
            assert SAID["nb"] in answer.text, (path, name)
        # the name of a field, too (a form is anything a client sends)
        answer = client.post(path.format(mpid=world.mpid), data={"csrf": csrf, "x\x00": "1"})
        assert answer.status_code == 422, (path, answer.status_code)


def test_every_customer_form_refuses_nul(customer: tuple[TestClient, str], world: World) -> None:
    client, csrf = customer
    _each_field_with_nul(client, csrf, world, CUSTOMER_FORMS)
    client.get("/lang/nn")
    answer = client.post(
        f"/points/{world.mpid}/proxies", data={"csrf": csrf, "agent_name": "A\x07"}
    )
    assert answer.status_code == 422 and SAID["nn"] in answer.text


def test_every_back_office_form_refuses_nul(staff: tuple[TestClient, str], world: World) -> None:
    client, csrf = staff
    _each_field_with_nul(client, csrf, world, STAFF_FORMS)
    client.get("/lang/en")
    answer = client.post("/staff/act", data={"csrf": csrf, "reason": "\x1b[31m"})
    assert answer.status_code == 422 and SAID["en"] in answer.text


def test_sign_in_forms_refuse_nul(world: World) -> None:
    with _client(world) as client:
        page = client.get("/signin").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        for path, fields in [("/signin", {"email": NUL}), ("/signin/code", {"code": NUL})]:
            answer = client.post(path, data={"csrf": csrf, "email": "ola@example.no", **fields})
            assert answer.status_code == 422 and SAID["nb"] in answer.text, path


def test_line_breaks_and_tabs_are_text(staff: tuple[TestClient, str], world: World) -> None:
    """A reason or a terms text may have lines: only the other control characters are refused."""
    client, csrf = staff
    answer = client.post(
        "/staff/act",
        data={"csrf": csrf, "metering_point_id": world.mpid, "reason": "Phoned:\r\n\tmoving"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert not has_control_characters("line\r\nnext\ttab æøå")
    assert all(has_control_characters(c) for c in ("\x00", "\x1b", "\x7f", "\x85", "\ud800"))


def test_search_boxes_and_paths_refuse_nul(staff: tuple[TestClient, str], world: World) -> None:
    client, _ = staff
    for url in (
        "/staff/search?q=Ola%00",
        "/staff/act?mpid=%00",
        "/staff?page=%001",
        "/points/%00",
        f"/points/{world.mpid}%00/move",
        "/signin?next=/points%00",
    ):
        answer = client.get(url)
        assert answer.status_code == 422, (url, answer.status_code)
        assert SAID["nb"] in answer.text, url
    assert client.get("/staff/search?q=Ola").status_code == 200


def _api(world: World, client: TestClient, key: str, method: str, path: str, body: str) -> dict:
    answer = client.request(
        method,
        path.format(mpid=world.mpid),
        content=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept-Language": "en",
        },
    )
    assert answer.status_code == 422, (path, body, answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    return dict(error["fields"])


def test_every_api_body_refuses_nul(world: World) -> None:
    assert world.holder.party_id is not None and world.staff.party_id is not None
    holder = create_token(world.engine, world.holder.party_id, "mine")
    crm = create_token(world.engine, world.staff.party_id, "crm")
    provider = register_provider(
        world.engine, world.staff, "923609016", "Strøm AS", "post@strom.example"
    ).org_key
    today = oslo_today().isoformat()
    bodies: list[tuple[str, str, str, dict[str, object]]] = [
        (
            holder,
            "POST",
            "/api/v1/metering-points/{mpid}/orders",
            {
                "action": "open",
                "terms_version_id": world.terms_id,
                "terms_accepted": True,
                "declaration": "inside_home",
                "module_option": "post",
                "delivery_street": "Storgata 1",
                "delivery_postcode": "6800",
                "delivery_city": "Førde",
                "pickup_place": "demo-nett-kundesenter",
            },
        ),
        (
            crm,
            "POST",
            "/api/v1/metering-points/{mpid}/customer-changes",
            {
                "effective_date": "2030-01-01",
                "new_customer_email": "ny@example.no",
                "new_customer_name": "Ny Kunde",
                "new_customer_lang": "nb",
            },
        ),
        (
            provider,
            "POST",
            "/api/v1/access-requests",
            {
                "metering_point_id": world.mpid,
                "customer_email": "ola@example.no",
                "scope": "view",
                "valid_from": today,
                "valid_to": today,
                "reason": "To show your use hour by hour",
            },
        ),
        (holder, "PUT", "/api/v1/metering-points/{mpid}/move-notice", {"move_out_date": today}),
    ]
    client = _client(world)
    for key, method, path, body in bodies:
        for name, value in body.items():
            if not isinstance(value, str):
                continue
            for bad in (value + "\x00", value + "\ud800"):
                # a lone surrogate is valid JSON ("\ud800") that neither database can store
                sent = json.dumps({**body, name: bad})
                fields = _api(world, client, key, method, path, sent)
                said = EXPLAINED.get(name, SAID["en"] + " from the text: it cannot be stored")
                assert fields == {name: said}, (path, name, fields)
