"""Every page — the customer's, customer service's and the demo mailbox — fits a 375 px wide
phone without sideways scrolling, and a 1280 px screen, in bokmål and English (Chromium).

The walk leaves screenshots of the main pages at both widths in build/screenshots/ (portal-…):
sign-in, the points and a point, the order, requests for access, acting for a customer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from portal_world import World, code_from, oslo_today
from sqlalchemy import update
from test_access_request_pages import ask_for_access
from test_oidc import OidcWorld, oidc_world

from hanport.demo.mailbox import Mailbox, create_mailbox_app
from hanport.portal.db.schema import orders
from hanport.portal.seed import DEMO_METERS, STAFF_EMAIL
from hanport.portal.services.intake import submit_order
from hanport.portal.services.move_notices import give_move_notice
from hanport.portal.services.moves import register_customer_change
from hanport.portal.services.proxies import party_by_email
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app
from services.browser import screenshot
from services.oidc import oidc_provider_factory
from services.serving import serve_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.browser]
#: fixtures from the OpenID tests: the real provider on loopback and the portal it signs in to
__all__ = ["oidc_provider_factory", "oidc_world"]

WIDTHS = (375, 1280)
LANGS = ("nb", "en")


@pytest.fixture
def portal_url(sqlite_world: World) -> Iterator[str]:
    app = create_app(PortalConfig(engine=sqlite_world.engine, secret_key="narrow-test-" * 3))
    yield from serve_in_thread(app, "portal")


@pytest.fixture
def mailbox_url(tmp_path: Path) -> Iterator[str]:
    directory = tmp_path / "mail"
    directory.mkdir()
    mail = EmailMessage()
    mail["From"] = "Nettselskapet AS <hanport@nettselskapet.example>"
    mail["To"] = "ola.nordmann.med.et.langt.navn@example.no"
    mail["Subject"] = "HAN-porten for målepunkt 707057500000000018 er åpnet"
    mail.set_content("Hei Ola,\n\n" + "HAN-porten er åpnet. " * 20 + "\n" + "x" * 120)
    (directory / "000001.eml").write_bytes(bytes(mail))  # as Mailbox.add stores one
    yield from serve_in_thread(create_mailbox_app(Mailbox(directory)), "mailbox")


def _sign_in(page: Any, base: str, world: World, email: str) -> None:
    """Sign in with an e-mailed code through the page's own request context (its cookies)."""
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.request.get(f"{base}/signin").text())
    assert csrf is not None
    page.request.post(f"{base}/signin", form={"csrf": csrf.group(1), "email": email})
    code = code_from(world.mails(email)[-1][2])
    answer = page.request.post(
        f"{base}/signin/code", form={"csrf": csrf.group(1), "email": email, "code": code}
    )
    assert answer.ok, answer.text()


def _overflowing(page: Any, url: str, shot: str | None = None, status: int = 200) -> list[str]:
    """The widths at which `url` scrolls sideways (empty: it fits); `shot` names the
    screenshots taken at each width."""
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        answer = page.goto(url)
        assert answer is not None and answer.status == status, f"{url}: {answer and answer.status}"
        if shot is not None:
            screenshot(page, f"{shot}-{width}")
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            wide = page.evaluate(
                "[...document.querySelectorAll('body *')].filter("
                "e => e.getBoundingClientRect().right > window.innerWidth + 1 "
                "|| e.scrollWidth > e.clientWidth + 1)"
                ".slice(0, 3).map(e => e.tagName + (e.id ? '#' + e.id : '') + ':' + e.className)"
            )
            found.append(f"{url} at {width} px: {scroll} > {inner} ({', '.join(wide)})")
    return found


def _sweep(
    page: Any,
    base: str,
    paths: list[str],
    langs: tuple[str, ...] = LANGS,
    shots: dict[str, str] | None = None,
    status: int = 200,
) -> list[str]:
    """Every path in every language at both widths, answered with `status`; `shots` maps a
    path to the name of its screenshots (portal-<name>-<lang>-<width>.png)."""
    found = []
    for lang in langs:
        # the page's own request context: the choice lands in the browser's cookies
        assert page.request.get(f"{base}/lang/{lang}?next=/favicon.ico").ok
        for path in paths:
            name = (shots or {}).get(path)
            shot = None if name is None else f"portal-{name}-{lang}"
            answered = _overflowing(page, base + path, shot, status)
            found += [f"[{lang}] {line}" for line in answered]
    return found


# the server fixture comes first, so it is set up before the browser's page and shut down
# after it: no keep-alive connection is left open when the server stops
def test_customer_pages_fit_a_phone(  # type: ignore[no-untyped-def]
    portal_url: str, sqlite_world: World, page, console_errors
) -> None:
    world = sqlite_world
    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    assert page.goto(f"{portal_url}/signin") is not None
    found = _sweep(page, portal_url, ["/signin"], shots={"/signin": "signin"})
    found += _overflowing(page, f"{portal_url}/no-such-page", status=404)
    _sign_in(page, portal_url, world, "ola@example.no")
    proxy = world.proxy_ids["act"]
    access_request = ask_for_access(world)
    paths = [
        "/points",
        "/requests",
        f"/requests/{access_request}/decline",
        f"/points/{world.mpid}",
        f"/points/{world.mpid}/close",
        f"/orders/{order_id}",
        f"/orders/{order_id}/cancel",
        f"/proxies/{proxy}/revoke",
        "/tokens",
        "/sessions",
    ]
    shots = {
        "/points": "points",
        f"/points/{world.mpid}": "point",
        f"/orders/{order_id}": "order",
        f"/orders/{order_id}/cancel": "order-cancel-confirm",
        "/requests": "requests",
        f"/requests/{access_request}/decline": "request-decline-confirm",
    }
    found += _sweep(page, portal_url, paths, shots=shots)
    # another customer's order: the "no access" page
    kari = DEMO_METERS[2].metering_point_id
    others = submit_order(world.engine, world.stranger, world.open_request(metering_point_id=kari))
    found += _sweep(page, portal_url, [f"/orders/{others}"], status=403)
    assert not found, "\n".join(found)
    # the browser logs the 404 and 403 the test asked for
    console_errors.messages[:] = [
        m for m in console_errors.messages if not re.search(r"status of 40[34]", m)
    ]


def test_a_new_tenant_fits_a_phone(portal_url: str, sqlite_world: World, page) -> None:  # type: ignore[no-untyped-def]
    # a person with no metering point yet: the guidance instead of an empty list
    with sqlite_world.engine.begin() as conn:
        party_by_email(conn, "ny@example.no", "Ny Leietaker", "nb", utcnow())
    _sign_in(page, portal_url, sqlite_world, "ny@example.no")
    found = _sweep(page, portal_url, ["/points", "/requests"], shots={"/points": "new-tenant"})
    assert not found, "\n".join(found)


def test_staff_pages_fit_a_phone(portal_url: str, sqlite_world: World, page) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    order_id = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    with world.engine.begin() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(state="escalated"))
    # a module to pick up: the case page's "ready" and "picked up" buttons side by side
    # (on Ola's other point: the first point's order is with customer service)
    cabin = world.open_request(
        module_option="pickup", metering_point_id=DEMO_METERS[1].metering_point_id
    )
    pickup_id = submit_order(world.engine, world.holder, cabin)
    _sign_in(page, portal_url, world, STAFF_EMAIL)
    paths = [
        "/staff",
        f"/staff/orders/{order_id}",
        f"/staff/orders/{pickup_id}",
        "/staff/sla",
        "/staff/search?q=nordmann",
        "/staff/moves",
        "/staff/terms",
        f"/staff/terms/{world.terms_id}",
        "/staff/providers",
    ]
    ask_for_access(world)  # registers a provider, so its list has a row
    shots = {
        "/staff": "staff-queue",
        f"/staff/orders/{order_id}": "staff-case",
        "/staff/providers": "staff-providers",
    }
    found = _sweep(page, portal_url, paths, shots=shots)
    assert not found, "\n".join(found)


def test_acting_for_a_customer_fits_a_phone(portal_url: str, sqlite_world: World, page) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    _sign_in(page, portal_url, world, STAFF_EMAIL)
    found = _sweep(page, portal_url, ["/staff/act"], shots={"/staff/act": "staff-act"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.request.get(f"{portal_url}/staff").text())
    assert csrf is not None
    reason = "Kunden ringte og ba oss bestille åpning; " + "x" * 150  # long, unbroken
    form = {"csrf": csrf.group(1), "metering_point_id": world.mpid, "reason": reason}
    assert page.request.post(f"{portal_url}/staff/act", form={**form, "poa_ref": "F" * 100}).ok
    shots = {f"/points/{world.mpid}": "acting-for-customer"}  # the banner on the point
    found += _sweep(page, portal_url, ["/staff", f"/points/{world.mpid}"], shots=shots)
    assert not found, "\n".join(found)


def _confirming_a_move(page: Any, base: str, mpid: str, day: str) -> list[str]:
    """The move's confirmation step is the answer to the form: fill it in and send it, at each
    width and language, and measure the page it answers with."""
    found = []
    for lang in LANGS:
        assert page.request.get(f"{base}/lang/{lang}?next=/favicon.ico").ok
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(f"{base}/points/{mpid}/move")
            page.fill("#move-out-date", day)
            with page.expect_navigation():
                page.click("#move-form button[type=submit]")
            assert page.locator("#confirm-yes").count() == 1, page.content()[:500]
            scroll, inner = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            if scroll > inner:
                found.append(f"[{lang}] move confirmation at {width} px: {scroll} > {inner}")
    return found


def test_the_move_pages_fit_a_phone(portal_url: str, sqlite_world: World, page) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    _sign_in(page, portal_url, world, "ola@example.no")
    move = f"/points/{world.mpid}/move"
    day = oslo_today() + timedelta(days=14)
    found = _sweep(page, portal_url, [move])  # no move registered: the form
    found += _confirming_a_move(page, portal_url, world.mpid, day.isoformat())
    # the notice given, and the market's change on another date: every line of the state
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    register_customer_change(
        world.engine, world.staff, world.mpid, effective=(day + timedelta(days=1)).isoformat()
    )
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    paths = [f"{move}?done=adjusted", f"{move}/withdraw", f"/points/{world.mpid}"]
    found += _sweep(page, portal_url, paths)  # the point's page says a move is registered
    _sign_in(page, portal_url, world, STAFF_EMAIL)
    found += _sweep(page, portal_url, ["/staff/moves"])  # with the moves waiting
    assert not found, "\n".join(found)


def test_the_mailbox_fits_a_phone(mailbox_url: str, page) -> None:  # type: ignore[no-untyped-def]
    # the demo mailbox speaks both languages on one page: no language to switch
    found = _overflowing(page, f"{mailbox_url}/") + _overflowing(
        page, f"{mailbox_url}/messages/000001"
    )
    assert not found, "\n".join(found)


def _overflow_now(page: Any, label: str) -> list[str]:
    """Whether the page as it is now (after clicks, a refused form) scrolls sideways."""
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return [f"{label}: {scroll} > {inner}"] if scroll > inner else []


def test_the_order_form_with_delivery_fits_a_phone(  # type: ignore[no-untyped-def]
    portal_url: str, sqlite_world: World, page, console_errors
) -> None:
    """The order form as the customer fills it: by post with the address (a long one, refused
    with its errors shown), and pick-up with the places and their hours; then the order page
    of a module to pick up."""
    world = sqlite_world
    _sign_in(page, portal_url, world, "ola@example.no")
    found: list[str] = []
    for lang in LANGS:
        assert page.request.get(f"{portal_url}/lang/{lang}?next=/favicon.ico").ok
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(f"{portal_url}/points/{world.mpid}")
            page.check("input[name=module_option][value=post]")
            assert page.is_visible("input[name=delivery_street]")
            assert not page.is_visible("input[name=pickup_place]")
            found += _overflow_now(page, f"[{lang}] by post at {width} px")
            if width == 375:
                screenshot(page, f"portal-order-form-by-post-{lang}-375")
            page.fill("input[name=delivery_street]", "Langvegen " + "9" * 190)
            page.fill("input[name=delivery_postcode]", "68")
            page.check("input[name=declaration][value=inside_home]")
            page.click("#order-form button[type=submit]")
            assert page.is_visible("input[name=delivery_street]")  # refused, form kept
            assert page.locator(".field-error").count() >= 2
            console_errors.clear()  # the browser logs the refusal's 422, which is expected
            found += _overflow_now(page, f"[{lang}] refused address at {width} px")
            page.check("input[name=module_option][value=pickup]")
            assert page.is_visible("input[name=pickup_place]")
            found += _overflow_now(page, f"[{lang}] pick-up at {width} px")
            if width == 375:
                screenshot(page, f"portal-order-form-pick-up-{lang}-375")
    request = world.open_request(module_option="pickup")
    order_id = submit_order(world.engine, world.holder, request)
    found += _sweep(page, portal_url, [f"/orders/{order_id}"])
    assert not found, "\n".join(found)


def _code_step(page: Any, base: str) -> list[str]:
    """The code-entry step is the answer to the address form: send it at each width and
    language (an address of its own each time, within the sign-in limits), and measure it."""
    found = []
    for lang in LANGS:
        assert page.request.get(f"{base}/lang/{lang}?next=/favicon.ico").ok
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(f"{base}/signin")
            page.fill("#email", f"ny.leietaker.{lang}.{width}@example.no")
            with page.expect_navigation():
                page.click("form[action='/signin'] button[type=submit]")
            assert page.locator("#code").count() == 1, page.content()[:500]
            # with ID-porten offered, the step does not call it "coming"
            assert "ID-porten/BankID" not in page.inner_text("main")
            screenshot(page, f"portal-signin-code-{lang}-{width}")
            found += _overflow_now(page, f"[{lang}] the code step at {width} px")
    return found


def test_the_sign_in_with_id_porten_fits_a_phone(  # type: ignore[no-untyped-def]
    oidc_world: OidcWorld, page, console_errors
) -> None:
    """With an OpenID provider configured: the sign-in page offering it, the refusal page (a
    way back with no sign-in pending), and the e-mailed code's entry step."""
    base = oidc_world.portal_url
    assert page.goto(f"{base}/signin") is not None
    found = _sweep(page, base, ["/signin"], shots={"/signin": "signin-oidc"})
    assert page.locator("#signin-idporten").count() == 1  # the page measured offers it
    refused = "/signin/oidc/callback?code=nothing-pending&state=forged"
    found += _sweep(page, base, [refused], shots={refused: "oidc-refused"}, status=403)
    found += _code_step(page, base)
    assert not found, "\n".join(found)
    # the browser logs the refusal's 403, which the test asked for
    console_errors.messages[:] = [m for m in console_errors.messages if "status of 403" not in m]
