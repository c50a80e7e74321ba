"""One error shape for every API failure, FastAPI's own included; capped request bodies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World

from hanport.portal.services.api_keys import create_token
from hanport.portal.web.app import API_BODY_LIMIT, FORM_BODY_LIMIT, PortalConfig, create_app


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def act(world: World) -> dict[str, str]:
    assert world.act_proxy.party_id is not None
    key = create_token(world.engine, world.act_proxy.party_id, "t")
    return {"Authorization": f"Bearer {key}", "Accept-Language": "en"}


def error_of(answer, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The answer's error object, after checking the status and the one shape."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


def test_routing_failures_have_the_shape(client: TestClient, act: dict[str, str]) -> None:
    assert error_of(client.get("/api/v1/nothing-here", headers=act), 404)["code"] == "not_found"
    wrong_method = client.delete("/api/v1/metering-points", headers=act)
    assert error_of(wrong_method, 405)["code"] == "method_not_allowed"
    missing_key = client.get("/api/v1/metering-points")
    assert error_of(missing_key, 401)["code"] == "key_missing"
    unknown_key = client.get("/api/v1/metering-points", headers={"Authorization": "Bearer x"})
    assert error_of(unknown_key, 401)["code"] == "key_unknown"


def test_bodies_no_parser_should_see_get_the_shape(
    client: TestClient, world: World, act: dict[str, str]
) -> None:
    url = f"/api/v1/metering-points/{world.mpid}/orders"
    headers = {**act, "Content-Type": "application/json"}
    huge_number = '{"action": "open", "terms_version_id": ' + "7" * 5000 + "}"
    assert error_of(client.post(url, content=huge_number, headers=headers), 400)["code"] == (
        "invalid_body"
    )
    deep = "[" * 50_000 + "]" * 50_000
    assert error_of(client.post(url, content=deep, headers=headers), 400)["code"] == (
        "invalid_body"
    )
    malformed = error_of(client.post(url, content='{"action": ', headers=headers), 422)
    assert malformed["code"] == "invalid_input" and malformed["fields"]
    huge_id = client.get("/api/v1/orders/" + "9" * 5000, headers=act)
    assert error_of(huge_id, 422)["fields"] == {"path.order_id": "Give a whole number"}


def test_service_errors_carry_their_code(
    client: TestClient, world: World, act: dict[str, str]
) -> None:
    url = f"/api/v1/metering-points/{world.mpid}/orders"
    stale = {
        "action": "open",
        "terms_version_id": world.terms_id + 100,
        "terms_accepted": True,
        "declaration": "inside_home",
        "module_option": "have",
    }
    changed = error_of(client.post(url, json=stale, headers=act), 409)
    assert changed["code"] == "terms_changed" and changed["fields"] == {}
    closed = error_of(client.post(url, json={"action": "close"}, headers=act), 409)
    assert closed["code"] == "already_closed"
    other = client.get("/api/v1/metering-points/707057500000000001", headers=act)
    assert error_of(other, 403)["code"] == "not_authorised"
    # a wrong check digit names no point at all
    impossible = client.get("/api/v1/metering-points/707057500000000000", headers=act)
    assert error_of(impossible, 404)["code"] == "not_found"


def test_bodies_over_the_cap_are_refused_unread(
    client: TestClient, world: World, act: dict[str, str]
) -> None:
    url = f"/api/v1/metering-points/{world.mpid}/orders"
    big = b'{"action": "open", "pad": "' + b"x" * API_BODY_LIMIT + b'"}'
    declared = client.post(url, content=big, headers={**act, "Content-Type": "application/json"})
    assert error_of(declared, 413)["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    chunked = client.post(
        url, content=chunks(), headers={**act, "Content-Type": "application/json"}
    )
    assert error_of(chunked, 413)["code"] == "body_too_large"
    page = client.post("/signin", data={"csrf": "x", "email": "a" * FORM_BODY_LIMIT})
    assert page.status_code == 413 and "text/html" in page.headers["content-type"]
