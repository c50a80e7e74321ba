"""Server-side sessions, cookie security and API keys of the port service (real app, real DB)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from time import sleep

import httpx
import pytest
from fastapi.testclient import TestClient
from portal_world import World, code_from, oslo_today
from sqlalchemy import Engine, func, select, update

from hanport.portal.db.schema import api_tokens, audit_events, orders, parties, sessions
from hanport.portal.domain.model import ProxyScope
from hanport.portal.domain.sla import OSLO
from hanport.portal.jobs import JobRunner
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.sessions import (
    ABSOLUTE_LIFETIME,
    IDLE_TIMEOUT,
    PURGE_INTERVAL,
    end_session,
    load_session,
    purge_sessions,
    session_token_hash,
    start_session,
)
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app
from hanport.portal.web.middleware import CookieSecure

SECRET = "session-test-secret-" * 2


@pytest.fixture
def app_config(world: World) -> PortalConfig:
    return PortalConfig(engine=world.engine, secret_key=SECRET)


@pytest.fixture
def client(app_config: PortalConfig) -> Iterator[TestClient]:
    with TestClient(create_app(app_config)) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, world: World, email: str) -> str:
    """Sign in through the forms; returns the CSRF token of the first signed-in page."""
    csrf = csrf_of(client.get("/signin").text)
    assert client.post("/signin", data={"csrf": csrf, "email": email}).status_code == 200
    code = code_from(world.mails(email)[-1][2])
    answer = client.post("/signin/code", data={"csrf": csrf, "email": email, "code": code})
    assert answer.status_code == 200, answer.text
    return csrf_of(answer.text)


def session_cookie(client: TestClient) -> str:
    value = client.cookies.get("hanport_session")
    assert value, dict(client.cookies)
    return value


def audited(engine: Engine, action: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(audit_events.c.actor).where(audit_events.c.action == action)
            ).scalars()
        )


def party_id(engine: Engine, email: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(parties.c.id).where(parties.c.email == email)).scalar_one())


# -- sessions ------------------------------------------------------------------------------------


def test_a_copied_cookie_stops_working_after_sign_out(
    client: TestClient, app_config: PortalConfig, world: World
) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    stolen = session_cookie(client)
    with TestClient(create_app(app_config)) as thief:
        thief.cookies.set("hanport_session", stolen)
        assert thief.get("/points").status_code == 200
        signed_out = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
        assert signed_out.status_code == 303
        assert 'hanport_session=""' in signed_out.headers["set-cookie"] or (
            "hanport_session=;" in signed_out.headers["set-cookie"]
        )
        again = thief.get("/points", follow_redirects=False)
        assert again.status_code == 303
        assert again.headers["location"].startswith("/signin")
    assert client.get("/points", follow_redirects=False).status_code == 303
    assert audited(world.engine, "session.ended") == [world.holder.label]


def test_demotion_takes_effect_on_the_next_request(client: TestClient, world: World) -> None:
    from hanport.portal.seed import STAFF_EMAIL

    sign_in(client, world, STAFF_EMAIL)
    assert client.get("/staff").status_code == 200
    with world.engine.begin() as conn:
        conn.execute(
            update(parties)
            .where(parties.c.id == world.staff.party_id)
            .values(role="customer", display_name="Tidligere ansatt")
        )
    demoted = client.get("/staff")
    assert demoted.status_code == 403
    assert "bare for kundeservice" in demoted.text
    assert "Tidligere ansatt" in client.get("/points").text  # the name is current as well


def test_idle_timeout_slides_and_the_lifetime_is_absolute(world: World) -> None:
    start = utcnow()
    assert world.holder.party_id is not None
    token = start_session(world.engine, world.holder.party_id, method="email-code", now=start)
    # used every 100 minutes: never idle for 2 h, so it lives on…
    moment = start
    while moment + timedelta(minutes=100) < start + ABSOLUTE_LIFETIME:
        moment += timedelta(minutes=100)
        signed_in = load_session(world.engine, token, now=moment)
        assert signed_in is not None, moment - start
        assert signed_in.actor == world.holder
    # …but not past its absolute lifetime, however active
    assert load_session(world.engine, token, now=start + ABSOLUTE_LIFETIME) is None

    other = start_session(world.engine, world.holder.party_id, method="email-code", now=start)
    assert load_session(world.engine, other, now=start + IDLE_TIMEOUT - timedelta(seconds=1))
    last_use = start + IDLE_TIMEOUT - timedelta(seconds=1)
    assert load_session(world.engine, other, now=last_use + IDLE_TIMEOUT) is None


def test_last_use_is_written_at_most_once_a_minute(world: World) -> None:
    start = utcnow()
    assert world.holder.party_id is not None
    token = start_session(world.engine, world.holder.party_id, method="email-code", now=start)

    def last_seen() -> object:
        with world.engine.connect() as conn:
            return conn.execute(
                select(sessions.c.last_seen_at).where(
                    sessions.c.token_hash == session_token_hash(token)
                )
            ).scalar_one()

    assert load_session(world.engine, token, now=start + timedelta(seconds=30))
    assert last_seen() == start
    assert load_session(world.engine, token, now=start + timedelta(seconds=61))
    assert last_seen() == start + timedelta(seconds=61)


def test_an_idle_session_in_the_browser_sends_to_sign_in(client: TestClient, world: World) -> None:
    sign_in(client, world, "ola@example.no")
    with world.engine.begin() as conn:
        conn.execute(update(sessions).values(last_seen_at=utcnow() - IDLE_TIMEOUT))
    answer = client.get("/points", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin")
    assert "Max-Age=0" in answer.headers["set-cookie"]  # the browser forgets the dead token


def test_sign_in_makes_a_new_session_so_a_planted_one_is_useless(
    client: TestClient, world: World
) -> None:
    planted = "planted-by-an-attacker"
    client.cookies.set("hanport_session", planted, domain="testserver.local")
    sign_in(client, world, "ola@example.no")
    first = session_cookie(client)
    assert first != planted
    sign_in(client, world, "ola@example.no")
    second = session_cookie(client)
    assert second != first
    # signing in again ended the browser's earlier session
    assert load_session(world.engine, first) is None
    assert load_session(world.engine, second) is not None
    with world.engine.connect() as conn:
        hashes = set(conn.execute(select(sessions.c.token_hash)).scalars())
    assert session_token_hash(planted) not in hashes
    assert second not in hashes  # only the hash is stored
    assert audited(world.engine, "session.started") == [world.holder.label] * 2


def test_csrf_token_before_and_after_sign_in(client: TestClient, world: World) -> None:
    anonymous = csrf_of(client.get("/signin").text)
    signed_in = sign_in(client, world, "ola@example.no")
    assert signed_in != anonymous
    # the sign-in page's token is no good for forms of the signed-in person
    refused = client.post(
        f"/points/{world.mpid}/orders", data={"csrf": anonymous, "action": "close"}
    )
    assert refused.status_code == 403
    assert "Last siden på nytt" in refused.text
    forged = client.post(f"/points/{world.mpid}/orders", data={"csrf": "ø" * 8, "action": "close"})
    assert forged.status_code == 403
    assert client.get(f"/points/{world.mpid}").status_code == 200
    with world.engine.connect() as conn:
        assert conn.execute(select(orders)).all() == []


def test_the_language_choice_survives_sign_in_and_out(client: TestClient, world: World) -> None:
    client.get("/lang/en")
    csrf = sign_in(client, world, "ola@example.no")
    assert "My metering points" in client.get("/points").text
    client.post("/signout", data={"csrf": csrf})
    assert 'lang="en"' in client.get("/signin").text


def test_sign_out_everywhere(client: TestClient, app_config: PortalConfig, world: World) -> None:
    sign_in(client, world, "ola@example.no")
    with (
        TestClient(create_app(app_config)) as phone,
        TestClient(create_app(app_config)) as kari,
    ):
        sign_in(phone, world, "ola@example.no")
        sign_in(kari, world, "kari@example.no")
        page = client.get("/sessions")
        assert page.status_code == 200
        assert page.text.count("<tr><td>") == 2  # Ola's two sign-ins, not Kari's
        answer = client.post(
            "/signout/everywhere", data={"csrf": csrf_of(page.text)}, follow_redirects=False
        )
        assert answer.status_code == 303
        assert phone.get("/points", follow_redirects=False).status_code == 303
        assert client.get("/points", follow_redirects=False).status_code == 303
        assert kari.get("/points").status_code == 200
    assert audited(world.engine, "session.ended_everywhere") == [world.holder.label]


def test_purge_deletes_only_sessions_that_can_no_longer_be_used(world: World) -> None:
    now = utcnow()
    ola = world.holder.party_id
    assert ola is not None
    live = start_session(world.engine, ola, method="email-code", now=now - timedelta(minutes=5))
    revoked = start_session(world.engine, ola, method="email-code", now=now)
    end_session(world.engine, revoked)
    start_session(world.engine, ola, method="email-code", now=now - IDLE_TIMEOUT)
    start_session(world.engine, ola, method="email-code", now=now - ABSOLUTE_LIFETIME)
    assert purge_sessions(world.engine, now) == 3
    with world.engine.connect() as conn:
        left = list(conn.execute(select(sessions.c.token_hash)).scalars())
    assert left == [session_token_hash(live)]

    # the job runner purges, but only every PURGE_INTERVAL
    runner = JobRunner(world.engine, world.headend(), None)
    assert asyncio.run(runner.run_session_purge(now)) == 0
    end_session(world.engine, live)
    assert asyncio.run(runner.run_session_purge(now + timedelta(seconds=1))) == 0
    assert asyncio.run(runner.run_session_purge(now + PURGE_INTERVAL)) == 1


# -- cookie security -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "base_url", "secure", "hsts"),
    [
        ("auto", "http://testserver", False, False),
        ("auto", "https://testserver", True, True),
        ("always", "http://testserver", True, True),  # https ends at a proxy that does not say
        ("never", "https://testserver", False, True),
    ],
)
def test_cookie_flags_follow_the_secure_mode(
    sqlite_world: World, mode: CookieSecure, base_url: str, secure: bool, hsts: bool
) -> None:
    app = create_app(
        PortalConfig(engine=sqlite_world.engine, secret_key=SECRET, cookie_secure=mode)
    )
    with TestClient(app, base_url=base_url) as client:
        answer = client.get("/signin")
    cookie = answer.headers["set-cookie"]
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie and "; Path=/" in cookie
    assert "domain" not in cookie.lower()
    assert ("; Secure" in cookie) is secure
    assert cookie.startswith("__Host-hanport_prefs=" if secure else "hanport_prefs=")
    assert ("strict-transport-security" in answer.headers) is hsts


def test_the_session_cookie_over_https(sqlite_world: World) -> None:
    world = sqlite_world
    app = create_app(PortalConfig(engine=world.engine, secret_key=SECRET))
    with TestClient(app, base_url="https://testserver") as client:
        csrf = csrf_of(client.get("/signin").text)
        client.post("/signin", data={"csrf": csrf, "email": "ola@example.no"})
        code = code_from(world.mails("ola@example.no")[-1][2])
        answer = client.post(
            "/signin/code",
            data={"csrf": csrf, "email": "ola@example.no", "code": code},
            follow_redirects=False,
        )
        session = next(c for c in answer.headers.get_list("set-cookie") if "hanport_session=" in c)
        assert session.startswith("__Host-hanport_session=")
        for flag in ("; Secure", "; HttpOnly", "; SameSite=Lax", "; Path=/", "; Max-Age=43200"):
            assert flag in session
        assert client.get("/points").status_code == 200
    # the same cookie over plain http is not the session: __Host- cookies are https-only
    with TestClient(app) as plain:
        plain.cookies.set("__Host-hanport_session", client.cookies["__Host-hanport_session"])
        assert plain.get("/points", follow_redirects=False).status_code == 303


def _portal(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    from services.ports import free_port

    port = free_port()
    db = f"sqlite:///{tmp_path / f'p{port}.db'}"
    with (tmp_path / f"portal-{port}.log").open("wb") as log:  # the child keeps its copy
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hanport.cli",
                "portal",
                "--db",
                db,
                "--port",
                str(port),
                *extra,
            ],
            stdout=log,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/signin", timeout=1)
            break
        except httpx.HTTPError:
            sleep(0.05)
    return child, base


@pytest.mark.parametrize(("trusted", "secure"), [("127.0.0.1", True), ("10.0.0.9", False)])
def test_https_at_a_trusted_proxy_makes_cookies_secure(
    tmp_path: Path, trusted: str, secure: bool
) -> None:
    child, base = _portal(tmp_path, "--trusted-proxy", trusted)
    try:
        # as a TLS-terminating proxy on this host would forward a customer's https request
        answer = httpx.get(f"{base}/signin", headers={"X-Forwarded-Proto": "https"}, timeout=10)
        plain = httpx.get(f"{base}/signin", timeout=10)
    finally:
        child.terminate()
        child.wait(timeout=10)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-hanport_prefs=") is secure
    assert ("; Secure" in cookie) is secure
    assert ("strict-transport-security" in answer.headers) is secure
    # plain http on loopback (the demo) keeps working without Secure
    assert plain.headers["set-cookie"].startswith("hanport_prefs=")
    assert "; Secure" not in plain.headers["set-cookie"]


# -- API keys ----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def order_body(client: TestClient) -> dict[str, object]:
    terms = client.get("/api/v1/terms/current").json()
    return {
        "action": "open",
        "terms_version_id": terms["id"],
        "terms_accepted": True,
        "declaration": "inside_home",
        "module_option": "have",
    }


def test_a_view_key_reads_but_cannot_order_cancel_or_register_a_move(
    client: TestClient, world: World
) -> None:
    assert world.holder.party_id is not None and world.staff.party_id is not None
    view = bearer(create_token(world.engine, world.holder.party_id, "app", scope="view"))
    act = bearer(create_token(world.engine, world.holder.party_id, "app", scope="act"))
    staff_view = bearer(create_token(world.engine, world.staff.party_id, "elhub", scope="view"))
    listed = client.get("/api/v1/metering-points", headers=view)
    assert listed.status_code == 200
    assert world.mpid in [p["metering_point_id"] for p in listed.json()]

    refused = client.post(
        f"/api/v1/metering-points/{world.mpid}/orders", json=order_body(client), headers=view
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "key_view_only"
    assert "bare innsyn" in refused.json()["error"]["message"]  # bokmål unless asked otherwise
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar() == 0

    created = client.post(
        f"/api/v1/metering-points/{world.mpid}/orders", json=order_body(client), headers=act
    )
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    assert client.get(f"/api/v1/orders/{order_id}", headers=view).status_code == 200
    assert client.post(f"/api/v1/orders/{order_id}/cancel", headers=view).status_code == 403
    move = client.post(
        f"/api/v1/metering-points/{world.mpid}/customer-changes",
        json={"effective_date": str(oslo_today() + timedelta(days=10))},
        headers=staff_view,
    )
    assert move.status_code == 403
    assert audited(world.engine, "api_token.use.refused") == [
        world.holder.label,
        world.holder.label,
        world.staff.label,
    ]


def test_expired_and_revoked_keys_get_401_with_a_reason(client: TestClient, world: World) -> None:
    assert world.holder.party_id is not None
    expired = create_token(world.engine, world.holder.party_id, "old")
    revoked = create_token(world.engine, world.holder.party_id, "gone")
    with world.engine.begin() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.name == "old")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        conn.execute(
            update(api_tokens).where(api_tokens.c.name == "gone").values(revoked_at=utcnow())
        )
    answer = client.get("/api/v1/metering-points", headers=bearer(expired))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "key_expired"
    assert "utløp" in answer.json()["error"]["message"]
    answer = client.get(
        "/api/v1/metering-points", headers={**bearer(revoked), "Accept-Language": "en"}
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "key_revoked"
    assert "revoked" in answer.json()["error"]["message"]


def test_last_use_of_a_key_is_shown_and_written_at_most_once_a_minute(
    client: TestClient, world: World
) -> None:
    assert world.holder.party_id is not None
    key = bearer(create_token(world.engine, world.holder.party_id, "app", scope="view"))

    def last_used() -> datetime | None:
        with world.engine.connect() as conn:
            moment: datetime | None = conn.execute(select(api_tokens.c.last_used_at)).scalar_one()
            return moment

    assert last_used() is None
    client.get("/api/v1/metering-points", headers=key)
    first = last_used()
    assert first is not None
    client.get("/api/v1/metering-points", headers=key)
    assert last_used() == first
    with world.engine.begin() as conn:
        conn.execute(update(api_tokens).values(last_used_at=utcnow() - timedelta(minutes=2)))
    client.get("/api/v1/metering-points", headers=key)
    later = last_used()
    assert later is not None and later > utcnow() - timedelta(minutes=1)


def test_key_form_asks_for_scope_and_expiry_and_explains_mistakes(
    client: TestClient, world: World
) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    page = client.get("/tokens")
    default_day = str(oslo_today() + timedelta(days=90))
    assert f'name="expires_on" min="{oslo_today()}"' in page.text
    assert f'value="{default_day}"' in page.text
    too_far = str(oslo_today() + timedelta(days=366))
    cases = [
        ({"name": "", "scope": "act", "expires_on": default_day}, "name", "Gi nøkkelen et navn"),
        ({"name": "x" * 101, "scope": "act", "expires_on": default_day}, "name", "høyst 100"),
        ({"name": "app", "scope": "admin", "expires_on": default_day}, "scope", "Velg hva"),
        ({"name": "app", "expires_on": default_day}, "scope", "Velg hva"),
        ({"name": "app", "scope": "act", "expires_on": ""}, "expires_on", "må ha en sluttdato"),
        ({"name": "app", "scope": "act", "expires_on": "31.12.2026"}, "expires_on", "ÅÅÅÅ-MM-DD"),
        ({"name": "app", "scope": "act", "expires_on": "2020-01-01"}, "expires_on", "før i dag"),
        ({"name": "app", "scope": "act", "expires_on": too_far}, "expires_on", "365 dager"),
    ]
    for form, _field, message in cases:
        answer = client.post("/tokens", data={"csrf": csrf, **form})
        assert answer.status_code == 422, form
        assert message in answer.text, (form, answer.text[-1500:])
    client.get("/lang/en")
    english = client.post("/tokens", data={"csrf": csrf, "name": "app", "scope": "act"})
    assert english.status_code == 422
    assert "an API key must expire" in english.text
    with world.engine.connect() as conn:
        assert conn.execute(select(api_tokens)).all() == []

    last_day = oslo_today() + timedelta(days=30)
    created = client.post(
        "/tokens",
        data={"csrf": csrf, "name": "Strømapp", "scope": "view", "expires_on": str(last_day)},
    )
    assert created.status_code == 200
    token = re.search(r'id="new-token">([^<]+)<', created.text)
    assert token
    assert 'data-scope="view"' in created.text
    assert '<td class="last-used">never</td>' in created.text  # not used yet
    with world.engine.connect() as conn:
        row = conn.execute(select(api_tokens)).one()
    assert row.scope == ProxyScope.VIEW
    # valid through its last day, Norwegian time
    assert row.expires_at == datetime.combine(last_day + timedelta(days=1), time(0), OSLO)
    assert client.get("/api/v1/metering-points", headers=bearer(token.group(1))).status_code == 200
    assert '<td class="last-used">never</td>' not in client.get("/tokens").text
