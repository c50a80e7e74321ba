"""A back-channel logout token is used once across every web worker: its jti is stored in the
database (logout_tokens_seen, migration 0015), so the same token replayed to a second app on the
same database is refused, and rows past their expiry are purged when the next one is stored.

The provider's keys are a key made here, handed to each app's relying party as if fetched from
its JWKS (the real provider's flow is in test_oidc). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import audit_events, logout_tokens_seen
from hanport.portal.services.oidc import LogoutRefused, OidcSettings, OidcSignIn
from hanport.portal.web.app import PortalConfig, create_app

pytestmark = pytest.mark.both_databases

ISSUER = "http://127.0.0.1:9/provider"  #: never reached: metadata and keys are handed over
SETTINGS = OidcSettings(
    issuer=ISSUER,
    client_id="hanport-portal",
    client_secret="secret",
    redirect_uri="http://127.0.0.1:1/signin/oidc/callback",
    pid_secret=b"pid-hash-secret-for-tests-only",
)
LOGOUT = "/signin/oidc/backchannel-logout"


@pytest.fixture(scope="module")
def key() -> Any:
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048, parameters={"kid": "test-key"})


def _knowing_the_keys(party: OidcSignIn, key: Any) -> OidcSignIn:
    party._metadata = {"issuer": ISSUER, "id_token_signing_alg_values_supported": ["RS256"]}
    party._jwks = {"keys": [key.as_dict(private=False)]}
    return party


def _token(key: Any, jti: str, iat: datetime | None = None) -> str:
    from joserfc import jwt

    claims = {
        "iss": ISSUER,
        "aud": SETTINGS.client_id,
        "iat": int((iat or datetime.now(UTC)).timestamp()),
        "jti": jti,
        "sid": "provider-session-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key)


def _worker(world: World, key: Any) -> TestClient:
    """One web worker: its own app and relying party (nothing shared but the database)."""
    app = create_app(
        PortalConfig(engine=world.engine, secret_key="replay-test-" * 4, oidc=SETTINGS)
    )
    app.state.oidc = _knowing_the_keys(OidcSignIn(world.engine, SETTINGS), key)
    return TestClient(app)


def test_a_logout_token_replayed_to_another_worker_is_refused(world: World, key: Any) -> None:
    first, second = _worker(world, key), _worker(world, key)
    token = _token(key, "logout-1")
    assert first.post(LOGOUT, data={"logout_token": token}).status_code == 200
    replayed = second.post(LOGOUT, data={"logout_token": token})
    assert replayed.status_code == 400 and replayed.json() == {"error": "invalid_request"}
    assert first.post(LOGOUT, data={"logout_token": token}).status_code == 400
    # another token is still taken by either worker
    assert second.post(LOGOUT, data={"logout_token": _token(key, "logout-2")}).status_code == 200
    with world.engine.connect() as conn:
        refused = conn.execute(
            select(audit_events.c.data_json).where(
                audit_events.c.action == "session.logout_token_refused"
            )
        ).scalars()
        assert [json.loads(data) for data in refused] == [{"reason": "logout_token_replayed"}] * 2
        assert len(conn.execute(select(logout_tokens_seen)).all()) == 2


def test_seen_tokens_are_kept_until_too_old_and_purged_on_the_next(world: World, key: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    clock = [now]
    party = _knowing_the_keys(OidcSignIn(world.engine, SETTINGS, clock=lambda: clock[0]), key)
    other = _knowing_the_keys(OidcSignIn(world.engine, SETTINGS, clock=lambda: clock[0]), key)
    token = _token(key, "logout-1", iat=now)
    assert party.backchannel_logout(token) == 0
    # just before the token grows too old (5 minutes and the leeway) it is still remembered
    clock[0] = now + timedelta(seconds=300 + SETTINGS.leeway_s - 1)
    with pytest.raises(LogoutRefused) as refused:
        other.backchannel_logout(token)
    assert refused.value.reason == "logout_token_replayed"
    # later the token is refused for its age, and the next one stored purges its row
    clock[0] = now + timedelta(seconds=300 + SETTINGS.leeway_s + 1)
    with pytest.raises(LogoutRefused) as refused:
        other.backchannel_logout(token)
    assert refused.value.reason == "logout_token_invalid:invalid_claim"
    assert other.backchannel_logout(_token(key, "logout-2", iat=clock[0])) == 0
    with world.engine.connect() as conn:
        kept = conn.execute(select(logout_tokens_seen.c.expires_at)).scalars().all()
    assert kept == [clock[0] + timedelta(seconds=300 + SETTINGS.leeway_s)]
