"""Sign-in through OpenID Connect against a real provider (oidc-provider on loopback, standing
in for ID-porten), driven in Chromium through the provider's own pages.

The portal runs under uvicorn with the demo world, its people enrolled by their synthetic
fødselsnummer (kept as a keyed hash). Refusals: wrong state, a replayed code, an unknown person,
an ID token for another audience, an expired one; each audited and without a session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from portal_world import World
from sqlalchemy import Engine, select

from hanport.portal.db.schema import audit_events, parties, sessions
from hanport.portal.domain.fodselsnummer import synthetic_pid
from hanport.portal.seed import DEMO_PIDS, STAFF_EMAIL
from hanport.portal.services.oidc import (
    ACR_HIGH,
    ACR_SUBSTANTIAL,
    STAFF_CALLBACK_PATH,
    OidcRefused,
    OidcSettings,
    OidcSignIn,
    StaffOidcSettings,
    enroll_pids,
)
from hanport.portal.web.app import PortalConfig, create_app
from services.browser import screenshot
from services.oidc import (
    OidcClient,
    OidcProvider,
    SyntheticPerson,
    oidc_provider_factory,
    sign_in_at_provider,
)
from services.ports import free_port
from services.serving import serve_in_thread

__all__ = ["oidc_provider_factory"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PORTAL_CLIENT = OidcClient("hanport-portal", "portal-secret-for-tests", [])
OTHER_CLIENT = OidcClient("other-app", "other-secret-for-tests", [])
#: a synthetic person the provider knows and the grid company does not
STRANGER = SyntheticPerson(synthetic_pid(datetime(1999, 2, 3).date(), 321), "Ukjent Person")
#: a provider that sends a pid with broken check digits (never trusted as a number)
BROKEN_PID = SyntheticPerson("14837541214", "Feil Sjekksiffer")
STAFF_CLIENT = OidcClient("hanport-back-office", "staff-secret-for-tests", [])
#: the company's staff directory: the demo's customer service, a newcomer, someone outside the
#: back-office group, and a member whose address is a customer's
STAFF_PEOPLE = [
    SyntheticPerson(None, "Siri Saksbehandler", ["hanport-staff"], sub="siri", email=STAFF_EMAIL),
    SyntheticPerson(
        None, "Nina Ny", ["all", "hanport-staff"], sub="nina", email="nina@nettselskap.example"
    ),
    SyntheticPerson(None, "Ole Salg", ["sales"], sub="ole", email="ole@nettselskap.example"),
    SyntheticPerson(None, "Ola Dobbel", ["hanport-staff"], sub="ola2", email="ola@example.no"),
]
NAMES = {
    "ola@example.no": "Ola Nordmann",
    "kari@example.no": "Kari Nordmann",
    "emma@example.com": "Emma Smith",
}


@dataclass
class OidcWorld:
    portal_url: str
    provider: OidcProvider
    settings: OidcSettings
    engine: Engine
    world: World
    app: Any

    @property
    def callback_prefix(self) -> str:
        return f"{self.portal_url}/signin/oidc/callback"


@pytest.fixture
def oidc_world(sqlite_world: World, oidc_provider_factory) -> Iterator[OidcWorld]:  # type: ignore[no-untyped-def]
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/signin/oidc/callback"
    logout = f"http://127.0.0.1:{port}/signin/oidc/backchannel-logout"
    staff_logout = f"http://127.0.0.1:{port}/staff/signin/oidc/backchannel-logout"
    signed_out = [f"http://127.0.0.1:{port}/signin"]
    staff_redirect = f"http://127.0.0.1:{port}{STAFF_CALLBACK_PATH}"
    people = [SyntheticPerson(pid, NAMES.get(email, email)) for email, pid in DEMO_PIDS.items()]
    provider = oidc_provider_factory(
        [
            replace(
                PORTAL_CLIENT,
                redirect_uris=[redirect],
                logout_uri=logout,
                post_logout_redirect_uris=signed_out,
            ),
            replace(OTHER_CLIENT, redirect_uris=[redirect]),
            replace(
                STAFF_CLIENT,
                redirect_uris=[staff_redirect],
                logout_uri=staff_logout,
                post_logout_redirect_uris=signed_out,
            ),
        ],
        [*people, STRANGER, BROKEN_PID, *STAFF_PEOPLE],
    )
    settings = OidcSettings(
        issuer=provider.issuer,
        client_id=PORTAL_CLIENT.client_id,
        client_secret=PORTAL_CLIENT.client_secret,
        redirect_uri=redirect,
        pid_secret=b"pid-hash-secret-for-tests-only",
    )
    assert enroll_pids(sqlite_world.engine, DEMO_PIDS, settings) == len(DEMO_PIDS)
    staff = StaffOidcSettings(
        issuer=provider.issuer,
        client_id=STAFF_CLIENT.client_id,
        client_secret=STAFF_CLIENT.client_secret,
        redirect_uri=staff_redirect,
    )
    app = create_app(
        PortalConfig(
            engine=sqlite_world.engine,
            secret_key="oidc-test-" * 4,
            oidc=settings,
            staff_oidc=staff,
        )
    )
    for url in serve_in_thread(app, "portal", port):
        yield OidcWorld(url, provider, settings, sqlite_world.engine, sqlite_world, app)


def _sign_in_at_provider(page, name: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Test-ID-porten")).to_be_visible()
    page.get_by_label(name).check()
    page.get_by_role("button", name="Logg inn som valgt person").click()


def _start_in_browser(page, world: OidcWorld, start: str = "/signin/oidc") -> str:  # type: ignore[no-untyped-def]
    """The browser starts a sign-in and stands at the provider's page; returns the
    authorization URL the portal sent it to (its state is in the browser's cookie)."""
    from playwright.sync_api import expect

    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.goto(f"{world.portal_url}{start}")
    expect(page.get_by_role("heading", name="Test-ID-porten")).to_be_visible()
    return next(url for url in seen if url.startswith(f"{world.provider.issuer}/auth?"))


def _way_back(world: OidcWorld, authorization_url: str, email: str = "ola@example.no") -> str:
    return sign_in_at_provider(authorization_url, DEMO_PIDS[email], world.callback_prefix)


def _expect_refusal_status(console_errors) -> None:  # type: ignore[no-untyped-def]
    """The refusal page's 403 is what the test wants; the browser reports it as an error."""
    console_errors.messages[:] = [
        m for m in console_errors.messages if "status of 403" not in m or "/callback?" not in m
    ]


def _refusals(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.data_json).where(audit_events.c.action == "signin.oidc.refused")
        ).all()
    return [json.loads(row.data_json) for row in rows]


def _session_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(sessions.c.token_hash)).all())


def test_customer_signs_in_through_the_provider(page, oidc_world: OidcWorld) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    authorize: list[str] = []
    page.on(
        "request",
        lambda r: (
            authorize.append(r.url)
            if r.url.startswith(f"{oidc_world.provider.issuer}/auth")
            else None
        ),
    )
    page.goto(f"{oidc_world.portal_url}/signin")
    screenshot(page, "oidc-1-signin-page")
    page.get_by_role("link", name="Logg inn med ID-porten").click()
    expect(page.get_by_role("heading", name="Test-ID-porten")).to_be_visible()
    screenshot(page, "oidc-2-provider-picks-the-person")
    _sign_in_at_provider(page, "Kari Nordmann")

    expect(page.get_by_role("heading", name="Mine målepunkter")).to_be_visible()
    kari_point = "707057500000000032"
    expect(page.get_by_role("link", name=kari_point)).to_be_visible()
    expect(page.get_by_role("link", name="707057500000000018")).to_have_count(0)  # Ola's
    screenshot(page, "oidc-3-signed-in")

    query = parse_qs(urlsplit(authorize[0]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["acr_values"] == [ACR_SUBSTANTIAL] and query["ui_locales"] == ["nb"]
    assert query["state"][0] and query["nonce"][0] and "code_verifier" not in query

    engine = oidc_world.engine
    with engine.connect() as conn:
        kari = conn.execute(select(parties).where(parties.c.email == "kari@example.no")).one()
        live = conn.execute(select(sessions).where(sessions.c.revoked_at.is_(None))).all()
    assert kari.pid_ref.startswith("hmac:") and DEMO_PIDS["kari@example.no"] not in kari.pid_ref
    assert [s.party_id for s in live] == [kari.id] and live[0].idp_sid

    # front-channel logout from the provider ends the portal session begun in its session
    logout = urlencode({"iss": oidc_world.provider.issuer, "sid": live[0].idp_sid})
    page.goto(f"{oidc_world.portal_url}/signin/oidc/logout?{logout}")
    page.goto(f"{oidc_world.portal_url}/points")
    expect(page.get_by_role("heading", name="Logg inn", exact=True)).to_be_visible()


def test_wrong_state_is_refused_and_audited(page, oidc_world: OidcWorld, console_errors) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    back = parse_qs(urlsplit(_way_back(oidc_world, _start_in_browser(page, oidc_world))).query)
    forged = urlencode({"code": back["code"][0], "state": "forged", "iss": back["iss"][0]})
    page.goto(f"{oidc_world.callback_prefix}?{forged}")

    expect(page.get_by_role("heading", name="Innlogging avvist")).to_be_visible()
    assert _session_count(oidc_world.engine) == 0
    assert [r["reason"] for r in _refusals(oidc_world.engine)] == ["wrong_state"]
    _expect_refusal_status(console_errors)


def test_replayed_code_is_refused(page, oidc_world: OidcWorld, console_errors) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    first = _way_back(oidc_world, _start_in_browser(page, oidc_world))
    page.goto(first)  # the genuine way back: signed in
    expect(page.get_by_role("heading", name="Mine målepunkter")).to_be_visible()
    page.goto(first)  # the same URL again: its sign-in is used up in this browser
    expect(page.get_by_role("heading", name="Innlogging avvist")).to_be_visible()

    # the old code with a fresh sign-in's state: the provider refuses the used code
    fresh = parse_qs(urlsplit(_start_in_browser(page, oidc_world)).query)
    old = parse_qs(urlsplit(first).query)
    replay = urlencode({"code": old["code"][0], "state": fresh["state"][0], "iss": old["iss"][0]})
    page.goto(f"{oidc_world.callback_prefix}?{replay}")
    expect(page.get_by_role("heading", name="Innlogging avvist")).to_be_visible()
    reasons = [r["reason"] for r in _refusals(oidc_world.engine)]
    assert reasons == ["wrong_state", "token_refused:invalid_grant"]
    with oidc_world.engine.connect() as conn:  # only the genuine sign-in's session, now ended
        assert conn.execute(select(sessions.c.revoked_at)).scalars().all() != [None, None]
    assert _session_count(oidc_world.engine) == 1
    _expect_refusal_status(console_errors)


def test_unknown_person_is_refused(page, oidc_world: OidcWorld, console_errors) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{oidc_world.portal_url}/signin/oidc")
    _sign_in_at_provider(page, STRANGER.name)
    expect(page.get_by_role("heading", name="Innlogging avvist")).to_be_visible()
    expect(page.get_by_text("ingen kundeforhold")).to_be_visible()
    screenshot(page, "oidc-refused-unknown-person")
    assert _session_count(oidc_world.engine) == 0
    assert [r["reason"] for r in _refusals(oidc_world.engine)] == ["unknown_person"]
    _expect_refusal_status(console_errors)


def _id_token_for(
    world: OidcWorld, settings: OidcSettings, login: str = DEMO_PIDS["ola@example.no"]
) -> tuple[str, str]:
    """A real ID token the provider issues to `settings`' client, and the nonce it carries."""
    relying_party = OidcSignIn(world.engine, settings)
    url, pending = relying_party.begin("en")
    back = sign_in_at_provider(url, login, world.callback_prefix)
    code = parse_qs(urlsplit(back).query)["code"][0]
    return str(relying_party.exchange_code(code, pending)["id_token"]), pending.nonce


def test_foreign_audience_and_expired_tokens_are_refused(oidc_world: OidcWorld) -> None:
    other = replace(
        oidc_world.settings,
        client_id=OTHER_CLIENT.client_id,
        client_secret=OTHER_CLIENT.client_secret,
    )
    portal = OidcSignIn(oidc_world.engine, oidc_world.settings)

    foreign, nonce = _id_token_for(oidc_world, other)
    with pytest.raises(OidcRefused) as refused:
        portal.validate_id_token(foreign, nonce)
    assert refused.value.reason == "id_token_invalid:invalid_claim"

    own, nonce = _id_token_for(oidc_world, oidc_world.settings)
    assert portal.validate_id_token(own, nonce)["pid"] == DEMO_PIDS["ola@example.no"]
    with pytest.raises(OidcRefused) as refused:
        portal.validate_id_token(own, "another-nonce")
    assert refused.value.reason == "id_token_invalid:invalid_claim"
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(OidcRefused) as refused:
        portal.validate_id_token(own, nonce, now=later)
    assert refused.value.reason == "id_token_invalid:expired_token"


def test_a_pending_sign_in_ages_by_the_portal_clock(oidc_world: OidcWorld) -> None:
    # the age of a started sign-in is measured by the injected clock, not the machine's
    now = [datetime.now(UTC)]
    portal = OidcSignIn(oidc_world.engine, oidc_world.settings, clock=lambda: now[0])
    _, pending = portal.begin("nb")
    assert pending.started == int(now[0].timestamp())
    now[0] += timedelta(seconds=oidc_world.settings.pending_ttl_s + 1)
    with pytest.raises(OidcRefused) as refused:
        portal.finish({"state": pending.state, "code": "unused"}, pending)
    assert refused.value.reason == "flow_expired"


def test_unknown_key_id_fetches_the_keys_again(oidc_world: OidcWorld) -> None:
    from joserfc.jwk import RSAKey

    own, nonce = _id_token_for(oidc_world, oidc_world.settings)
    portal = OidcSignIn(oidc_world.engine, oidc_world.settings)
    # as if the keys had been fetched before the provider rotated them
    portal._jwks = {
        "keys": [RSAKey.generate_key(2048, parameters={"kid": "retired"}).as_dict(private=False)]
    }
    assert portal.validate_id_token(own, nonce)["sub"] == DEMO_PIDS["ola@example.no"]
    assert portal._jwks is not None and portal._jwks["keys"][0]["kid"] != "retired"


def test_staff_sign_in_through_the_company_provider(page, oidc_world: OidcWorld) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{oidc_world.portal_url}/signin")
    page.get_by_role("link", name="Ansatte: logg inn med firmakontoen din").click()
    _sign_in_at_provider(page, "Siri Saksbehandler")
    expect(page.get_by_role("heading", name="Kundeservice: Kø")).to_be_visible()
    with oidc_world.engine.connect() as conn:
        staff = conn.execute(select(parties).where(parties.c.email == STAFF_EMAIL)).one()
        live = conn.execute(select(sessions.c.party_id)).scalars().all()
    assert staff.role == "staff" and staff.idp_subject.endswith("#siri") and live == [staff.id]


def _staff_way_back(page, world: OidcWorld, sub: str) -> None:  # type: ignore[no-untyped-def]
    start = _start_in_browser(page, world, "/staff/signin/oidc")
    back = sign_in_at_provider(start, sub, f"{world.portal_url}{STAFF_CALLBACK_PATH}")
    page.goto(back)


def test_staff_role_only_from_the_group_claim(page, oidc_world: OidcWorld, console_errors) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _staff_way_back(page, oidc_world, "ole")  # not in the back-office group
    expect(page.get_by_text("gir ikke tilgang til saksbehandlingen")).to_be_visible()
    _staff_way_back(page, oidc_world, "ola2")  # in the group, but a customer's address
    expect(page.get_by_role("heading", name="Innlogging avvist")).to_be_visible()
    assert _session_count(oidc_world.engine) == 0
    reasons = [r["reason"] for r in _refusals(oidc_world.engine)]
    assert reasons == ["not_staff", "email_in_use"]
    with oidc_world.engine.connect() as conn:
        ola = conn.execute(select(parties.c.role).where(parties.c.email == "ola@example.no"))
        assert ola.scalar_one() == "customer"

    _staff_way_back(page, oidc_world, "nina")  # a newcomer in the group: a staff account
    expect(page.get_by_role("heading", name="Kundeservice: Kø")).to_be_visible()
    with oidc_world.engine.connect() as conn:
        nina = conn.execute(select(parties).where(parties.c.email == "nina@nettselskap.example"))
        assert nina.one().role == "staff"
    _expect_refusal_status(console_errors)


def test_an_unreachable_provider_is_a_clear_refusal(sqlite_world: World) -> None:
    settings = OidcSettings(
        issuer=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        client_id="c",
        client_secret="s",
        redirect_uri="http://127.0.0.1:1/signin/oidc/callback",
        pid_secret=b"pid-hash-secret-for-tests-only",
    )
    with pytest.raises(OidcRefused) as refused:
        OidcSignIn(sqlite_world.engine, settings).begin("nb")
    assert refused.value.reason == "provider_unreachable"


def test_level_language_and_pid_checks(oidc_world: OidcWorld) -> None:
    portal = OidcSignIn(oidc_world.engine, oidc_world.settings)
    for lang, expected in (("nn", "nn"), ("en", "en"), ("sv", "nb")):
        url, _ = portal.begin(lang)
        assert parse_qs(urlsplit(url).query)["ui_locales"] == [expected]

    high = replace(oidc_world.settings, acr_values=ACR_HIGH)
    token, nonce = _id_token_for(oidc_world, high)
    assert OidcSignIn(oidc_world.engine, high).validate_id_token(token, nonce)["acr"] == ACR_HIGH
    substantial, nonce = _id_token_for(oidc_world, oidc_world.settings)
    with pytest.raises(OidcRefused) as refused:  # high asked for, substantial given
        OidcSignIn(oidc_world.engine, high).validate_id_token(substantial, nonce)
    assert refused.value.reason == "id_token_invalid:invalid_claim"

    token, nonce = _id_token_for(oidc_world, oidc_world.settings, BROKEN_PID.login)
    claims = portal.validate_id_token(token, nonce)
    with pytest.raises(OidcRefused) as refused:
        portal._identify(claims)
    assert refused.value.reason == "invalid_pid"


def test_an_expired_id_token_is_refused_and_audited(
    page, oidc_world: OidcWorld, console_errors
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    # the portal's clock an hour ahead: every ID token the provider issues has expired
    app_state = oidc_world.app.state
    app_state.oidc = OidcSignIn(
        oidc_world.engine, oidc_world.settings, clock=lambda: datetime.now(UTC) + timedelta(hours=1)
    )
    page.goto(_way_back(oidc_world, _start_in_browser(page, oidc_world)))
    expect(page.get_by_role("heading", name="Innlogging avvist")).to_be_visible()
    assert _session_count(oidc_world.engine) == 0
    reasons = [r["reason"] for r in _refusals(oidc_world.engine)]
    assert reasons == ["id_token_invalid:expired_token"]
    _expect_refusal_status(console_errors)


# -- signing out: at the provider too (RP-initiated), and when the provider says so ----------


def _signed_in_in_browser(page, world: OidcWorld, name: str = "Kari Nordmann") -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{world.portal_url}/signin/oidc")
    _sign_in_at_provider(page, name)
    expect(page.get_by_role("heading", name="Mine målepunkter")).to_be_visible()


def _live_sessions(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(sessions).where(sessions.c.revoked_at.is_(None))).all())


def _kept_prefs(page, world: OidcWorld) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from itsdangerous import URLSafeTimedSerializer

    raw = next(c["value"] for c in page.context.cookies() if c["name"] == "hanport_prefs")
    signer = URLSafeTimedSerializer(world.app.state.config.secret_key, salt="hanport-portal-prefs")
    return dict(signer.loads(raw))


def test_signing_out_ends_the_session_at_the_provider_too(page, oidc_world: OidcWorld) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ended: list[str] = []
    page.on(
        "request",
        lambda r: ended.append(r.url) if "/session/end?" in r.url else None,
    )
    _signed_in_in_browser(page, oidc_world)
    # the ID token (it holds the pid) is kept for signing out, encrypted in the browser
    kept = _kept_prefs(page, oidc_world)["oidc_signout"]
    assert DEMO_PIDS["kari@example.no"] not in kept and "eyJ" not in kept
    cookie = next(c for c in page.context.cookies() if c["name"] == "hanport_prefs")
    assert len(cookie["name"]) + len(cookie["value"]) < 2500  # room below a browser's 4 KB
    page.get_by_role("button", name="Logg ut").click()

    expect(page.get_by_role("heading", name="Logg ut fra Test-ID-porten?")).to_be_visible()
    assert _live_sessions(oidc_world.engine) == []  # ended here before the provider asked
    screenshot(page, "oidc-4-sign-out-at-provider")
    page.get_by_role("button", name="Ja, logg meg ut").click()
    expect(page.get_by_role("heading", name="Logg inn", exact=True)).to_be_visible()
    assert page.url == f"{oidc_world.portal_url}/signin"

    query = parse_qs(urlsplit(ended[0]).query)
    assert query["post_logout_redirect_uri"] == [f"{oidc_world.portal_url}/signin"]
    assert query["client_id"] == [PORTAL_CLIENT.client_id] and query["ui_locales"] == ["nb"]
    hint = query["id_token_hint"][0]
    claims = OidcSignIn(oidc_world.engine, oidc_world.settings).validate_id_token(
        hint, json.loads(_b64_claims(hint))["nonce"]
    )
    assert claims["pid"] == DEMO_PIDS["kari@example.no"]
    assert "oidc_signout" not in _kept_prefs(page, oidc_world) or not _kept_prefs(
        page, oidc_world
    ).get("oidc_signout")
    # signed out at the provider: the next sign-in asks who one is again
    page.goto(f"{oidc_world.portal_url}/signin/oidc")
    expect(page.get_by_role("heading", name="Test-ID-porten")).to_be_visible()


def _b64_claims(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def test_staff_sign_out_at_the_company_provider(page, oidc_world: OidcWorld) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{oidc_world.portal_url}/staff/signin/oidc")
    _sign_in_at_provider(page, "Siri Saksbehandler")
    expect(page.get_by_role("heading", name="Kundeservice: Kø")).to_be_visible()
    page.get_by_role("button", name="Logg ut").click()
    page.get_by_role("button", name="Ja, logg meg ut").click()
    expect(page.get_by_role("heading", name="Logg inn", exact=True)).to_be_visible()
    assert _live_sessions(oidc_world.engine) == []
    # the provider told the staff client's back-channel endpoint too, and it answered 200
    from services.waiting import wait_for

    sent = f"backchannel logout sent to {STAFF_CLIENT.client_id}"
    wait_for(lambda: sent in oidc_world.provider.log(), what=sent)


def test_the_provider_ends_the_portal_session_by_back_channel(page, oidc_world: OidcWorld) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from services.waiting import wait_for

    _signed_in_in_browser(page, oidc_world, "Ola Nordmann")
    assert len(_live_sessions(oidc_world.engine)) == 1
    # signed out at the provider itself (another app of the same provider session, say)
    page.goto(f"{oidc_world.provider.issuer}/session/end?client_id={PORTAL_CLIENT.client_id}")
    page.get_by_role("button", name="Ja, logg meg ut").click()
    expect(page.get_by_role("heading", name="Du er logget ut av Test-ID-porten")).to_be_visible()

    wait_for(lambda: not _live_sessions(oidc_world.engine), what="the logout token's effect")
    with oidc_world.engine.connect() as conn:
        row = conn.execute(
            select(audit_events.c.data_json).where(
                audit_events.c.action == "session.ended_by_provider"
            )
        ).one()
    assert json.loads(row.data_json) == {"sessions": 1, "channel": "back-channel"}
    page.goto(f"{oidc_world.portal_url}/points")
    expect(page.get_by_role("heading", name="Logg inn", exact=True)).to_be_visible()


def test_signing_out_works_while_the_provider_is_down(page, oidc_world: OidcWorld) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _signed_in_in_browser(page, oidc_world)
    oidc_world.provider.stop()
    # a portal restarted meanwhile: it has neither the provider's metadata nor its keys
    oidc_world.app.state.oidc = OidcSignIn(oidc_world.engine, oidc_world.settings)
    page.get_by_role("button", name="Logg ut").click()
    expect(page.get_by_role("heading", name="Logg inn", exact=True)).to_be_visible()
    assert _live_sessions(oidc_world.engine) == []


def _logout_token(world: OidcWorld, key: Any, **changes: Any) -> str:
    from joserfc import jwt

    claims: dict[str, Any] = {
        "iss": world.provider.issuer,
        "aud": PORTAL_CLIENT.client_id,
        "iat": int(datetime.now(UTC).timestamp()),
        "jti": "logout-1",
        "sid": "provider-session-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": OTHER_CLIENT.client_id}, "logout_token_invalid:invalid_claim"),
        ({"iss": "http://127.0.0.1:1"}, "logout_token_invalid:invalid_claim"),
        ({"iat": None}, "logout_token_invalid:missing_claim"),
        ({"iat": 1_000_000_000}, "logout_token_invalid:invalid_claim"),
        ({"events": None}, "logout_token_invalid:invalid_claim"),
        ({"events": {"urn:other": {}}}, "logout_token_invalid:invalid_claim"),
        ({"sid": None}, "logout_token_invalid:missing_claim"),
        ({"jti": None}, "logout_token_invalid:missing_claim"),
        ({"nonce": "n-1"}, "logout_token_invalid:invalid_claim"),
    ],
)
def test_a_logout_token_that_does_not_hold_is_refused(
    oidc_world: OidcWorld, changes: dict[str, Any], reason: str
) -> None:
    from joserfc.jwk import RSAKey

    from hanport.portal.services.oidc import LogoutRefused

    key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    portal = OidcSignIn(oidc_world.engine, oidc_world.settings)
    portal._jwks = {"keys": [key.as_dict(private=False)]}  # as if the provider had signed it
    assert portal.backchannel_logout(_logout_token(oidc_world, key)) == 0  # holds; no session
    with pytest.raises(LogoutRefused) as refused:
        portal.backchannel_logout(_logout_token(oidc_world, key, **{"jti": "logout-2", **changes}))
    assert refused.value.reason == reason
    with oidc_world.engine.connect() as conn:
        audited = conn.execute(
            select(audit_events.c.data_json).where(
                audit_events.c.action == "session.logout_token_refused"
            )
        ).scalar_one()
    assert json.loads(audited) == {"reason": reason}


def test_the_back_channel_endpoint_answers_400_to_a_bad_token(oidc_world: OidcWorld) -> None:
    import httpx

    for path in ("/signin/oidc/backchannel-logout", "/staff/signin/oidc/backchannel-logout"):
        answer = httpx.post(f"{oidc_world.portal_url}{path}", data={"logout_token": "not.a.jwt"})
        assert answer.status_code == 400 and answer.json() == {"error": "invalid_request"}
        assert answer.headers["cache-control"] == "no-store"


def test_a_logout_token_sent_again_is_refused(oidc_world: OidcWorld) -> None:
    from joserfc.jwk import RSAKey

    from hanport.portal.services.oidc import LogoutRefused

    key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    portal = OidcSignIn(oidc_world.engine, oidc_world.settings)
    portal._jwks = {"keys": [key.as_dict(private=False)]}
    token = _logout_token(oidc_world, key)
    assert portal.backchannel_logout(token) == 0
    with pytest.raises(LogoutRefused) as refused:
        portal.backchannel_logout(token)
    assert refused.value.reason == "logout_token_replayed"
    assert portal.backchannel_logout(_logout_token(oidc_world, key, jti="logout-2")) == 0
