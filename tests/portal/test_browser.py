"""A customer signs in with an e-mailed code and orders the HAN port opened, in Chromium.

Everything is real: the portal served by uvicorn with its job runner, the emulated fleet as
head-end, aiosmtpd receiving the sign-in code and the receipts, Debian's Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from emulated_fleet import EmulatedFleet
from portal_world import World

from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.headend import HttpHeadEnd
from hanport.portal.services.notify import SmtpMailer
from hanport.portal.web.app import PortalConfig, create_app
from services.browser import screenshot
from services.serving import serve_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def portal_url(sqlite_world: World, fleet: EmulatedFleet, smtp_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    headend = HttpHeadEnd(fleet.control_url)
    runner = JobRunner(
        sqlite_world.engine,
        headend,
        SmtpMailer(smtp_server.host, smtp_server.port),
        JobSettings(backoff_base_s=0.5, poll_s=0.2, push_wait_s=15, tick_s=0.2),
    )

    async def background() -> None:
        try:
            await runner.run_forever()
        finally:
            # The head-end's pooled connection to the emulator ends with the server, not later
            # in whichever test the garbage collector happens to run.
            await headend.aclose()

    app = create_app(
        PortalConfig(
            engine=sqlite_world.engine,
            secret_key="browser-test-" * 3,
            background=background,
        )
    )
    yield from serve_in_thread(app, "portal")


def test_customer_orders_the_port_open(
    page,
    portal_url: str,
    sqlite_world: World,  # type: ignore[no-untyped-def]
    smtp_server,
) -> None:
    from playwright.sync_api import expect

    world = sqlite_world
    page.goto(f"{portal_url}/")
    page.get_by_label("E-postadresse").fill("ola@example.no")
    page.get_by_role("button", name="Send meg en engangskode").click()
    expect(page.get_by_text("har vi sendt en kode")).to_be_visible()
    mail = smtp_server.wait_for(lambda m: "Engangskode" in str(m["Subject"]), timeout=10)
    assert not re.search(r"\d{6}", str(mail["Subject"])), "a secret in the subject line"
    body = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    code = re.search(r"\b\d{6}\b", body).group(0)  # type: ignore[union-attr]
    page.get_by_label("Engangskode").fill(code)
    page.get_by_role("button", name="Logg inn").click()

    expect(page.get_by_role("heading", name="Mine målepunkter")).to_be_visible()
    page.get_by_role("link", name=world.mpid).first.click()
    expect(page.locator("#port-state")).to_have_text("Stengt")
    page.get_by_label("Inne i boligen").check()
    page.get_by_label("Send modulen i posten").check()
    page.get_by_label(re.compile("Jeg har lest og godtar vilkårene")).check()
    screenshot(page, "portal-order-form")
    page.get_by_role("button", name="Send bestilling").click()

    # the order page refreshes itself (no JavaScript) until the meter has confirmed
    expect(page.locator("#order-state")).to_have_attribute(
        "data-state", "completed", timeout=30_000
    )
    expect(page.locator("#timeline")).to_contain_text("Tilstand lest tilbake fra måleren")
    expect(page.locator("#push-note")).to_contain_text("måleren sender data")
    screenshot(page, "portal-order-completed")
    page.get_by_role("link", name="Tilbake").click()
    expect(page.locator("#port-state")).to_have_text("Åpen")
    smtp_server.wait_for(lambda m: "HAN-porten er åpnet" in str(m["Subject"]), timeout=10)
