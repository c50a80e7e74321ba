"""The demo's two OpenID providers: ID-porten lists only the synthetic citizens, the company's
own provider (where staff sign in, issue 12) has its own name and lists only staff; the start-up
text's first step signs in through ID-porten by name."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime
from pathlib import Path

import httpx

from hanport.demo.orchestrator import COMPANY_PROVIDER_TITLE, DemoOptions, DemoPorts, DemoRun
from hanport.emulator.load import OSLO
from hanport.portal.db.engine import make_engine, migrate
from hanport.portal.seed import DEMO_METERS, DEMO_PARTIES, DEMO_PIDS, STAFF_EMAIL, seed_demo
from services.oidc import ensure_installed

CITIZENS = [DEMO_PARTIES[email][0] for email in DEMO_PIDS]
STAFF = DEMO_PARTIES[STAFF_EMAIL][0]


async def _signin_page(demo: DemoRun, part: str, client_id: str, path: str) -> str:
    """The provider's own sign-in page for the portal's client ``client_id``."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid profile email",
        "redirect_uri": demo.url("portal", f"{path}/callback"),
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
        "state": "s",
        "nonce": "n",
    }
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as client:
        page = await client.get(demo.url(part, "/auth"), params=params)
    assert page.status_code == 200, page.text
    return page.text


async def test_citizens_at_id_porten_staff_at_the_companys_own_provider(tmp_path: Path) -> None:
    ensure_installed()
    demo = DemoRun(DemoOptions(tmp_path), meters=list(DEMO_METERS))
    demo.ports = DemoPorts.from_base(0)
    (tmp_path / "logs").mkdir()
    try:
        await demo._start_idporten()
        idporten = await _signin_page(demo, "idporten", "hanport-demo", "/signin/oidc")
        company = await _signin_page(demo, "company", "hanport-demo-staff", "/staff/signin/oidc")
        # the staff client is the company's, unknown to ID-porten
        async with httpx.AsyncClient(timeout=30) as client:
            wrong = await client.get(
                demo.url("idporten", "/auth"),
                params={"client_id": "hanport-demo-staff", "response_type": "code"},
            )
    finally:
        for child in reversed(demo.children):
            await child.stop()
    assert "<title>Test-ID-porten</title>" in idporten
    assert all(name in idporten for name in CITIZENS) and STAFF not in idporten
    assert f"<title>{COMPANY_PROVIDER_TITLE}</title>" in company
    assert "ID-porten" not in company
    assert STAFF in company and not any(name in company for name in CITIZENS)
    assert wrong.status_code == 400 and "invalid_client" in wrong.text
    env = demo._portal_env()
    assert env["HANPORT_PORTAL_OIDC_STAFF_ISSUER"] == demo.url("company", "").rstrip("/")
    assert env["HANPORT_PORTAL_OIDC_CUSTOMERS_ISSUER"] == demo.url("idporten", "").rstrip("/")


def test_first_step_signs_in_through_id_porten_by_name(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'portal.sqlite'}")
    migrate(engine)
    seed_demo(engine)
    engine.dispose()
    demo = DemoRun(DemoOptions(tmp_path), meters=list(DEMO_METERS))
    demo.ports = DemoPorts.from_base(0)
    demo._clock_at_start = datetime(2026, 3, 1, 12, tzinfo=OSLO)
    demo._with_idporten = True
    first = DEMO_METERS[0]
    name = DEMO_PARTIES[first.customer_email][0]
    banner = demo.banner()
    step = banner[banner.index("  1. ") : banner.index("  2. ")]
    assert f"med ID-porten som {name} og bestill" in step
    assert f"through ID-porten as {name} and order" in step
    assert first.customer_email not in step
    assert demo.url("company") in banner, "staff are sent to the company's own provider"
