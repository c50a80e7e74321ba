"""Every text field has a limit the refusal names; a new tenant is told what happens next;
empty lists say so without table headers; the back office speaks the page's language."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import delete, insert, update
from test_web import csrf_of, sign_in

from hanport.portal.db.schema import order_events, orders
from hanport.portal.domain.limits import EMAIL_MAX, NAME_MAX, REASON_MAX, TRACKING_REF_MAX
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.intake import submit_order
from hanport.portal.services.lifecycle import override_order
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


@pytest.mark.parametrize(
    ("lang", "said"), [("nb", f"Høyst {EMAIL_MAX} tegn"), ("en", f"At most {EMAIL_MAX} characters")]
)
def test_the_sign_in_address_names_its_limit(
    client: TestClient, world: World, lang: str, said: str
) -> None:
    client.get(f"/lang/{lang}")
    page = client.get("/signin").text
    assert f'name="email" type="email" autocomplete="email" maxlength="{EMAIL_MAX}"' in page
    csrf, mails = csrf_of(page), len(world.mails())
    over = "e" * EMAIL_MAX + "@example.no"  # well-formed, but longer than any address can be
    refused = client.post("/signin", data={"csrf": csrf, "email": over})
    assert refused.status_code == 422
    assert said in refused.text
    assert "valid e-mail" not in refused.text and "gyldig e-post" not in refused.text
    assert len(world.mails()) == mails  # nothing sent
    at_limit = "e" * (EMAIL_MAX - len("@example.no")) + "@example.no"
    asked = client.post("/signin", data={"csrf": csrf, "email": at_limit})
    assert asked.status_code == 200  # the longest address is still taken


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
    assert re.search(r"Bestilling mottatt \(Åpne, portalen, kontraktseier\)", audit), audit
    assert "<details><summary>Lagret oppføring</summary>" in audit
    assert "order.submitted" in audit.split("<details>")[1]  # the raw entry, behind the toggle
    timeline = _before_toggles(_section(case, "timeline", "</table>"))
    assert "portalen, bestilt som kontraktseier" in timeline and "holder" not in timeline
    client.get("/lang/en")
    english = client.get(f"/staff/orders/{order_id}").text
    assert "Order received (Open, portal, contract holder)" in english
    assert "portal, ordered as contract holder" in english


def _section(page: str, element_id: str, end: str) -> str:
    return page.split(f'id="{element_id}"')[1].split(end, maxsplit=1)[0]


def _before_toggles(html: str) -> str:
    """What is shown without opening a toggle (the stored entries are behind them)."""
    return re.sub(r"<details>.*?</details>", "", html, flags=re.DOTALL)


#: stored codes and raw values, which may never show unopened
_RAW = re.compile(r"portal; |meter_no_answer|set_open|read_port|>system<|port=open|push\(es\)")
#: and the English fragments the service wrote before its notes became codes
_ENGLISH = re.compile(
    _RAW.pattern + r"|attempts; handed|head-end accepted|read back |notice queued"
)


async def test_the_case_timeline_speaks_the_pages_language(
    client: TestClient, world: World
) -> None:
    headend = world.headend()
    headend.unresponsive.add(world.meter_id)
    settings = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)
    runner = JobRunner(world.engine, headend, None, settings)
    order_id = submit_order(world.engine, world.holder, world.open_request())
    for _ in range(6):
        await runner.run_orders()
    sign_in(client, world, STAFF_EMAIL)
    case = client.get(f"/staff/orders/{order_id}").text
    timeline = _before_toggles(_section(case, "timeline", "</table>"))
    assert "Måleren svarte ikke; forsøk 1, neste om 0 s" in timeline, timeline
    assert "Måleren svarte ikke etter 3 forsøk; overlevert til kundeservice" in timeline
    assert "systemet (jobbkjøreren)" in timeline
    commands = _before_toggles(_section(case, "commands", "</table>"))
    assert "Åpne porten" in commands and "Måleren svarte ikke" in commands
    for shown in (timeline, commands, _before_toggles(_section(case, "audit", "</ol>"))):
        assert not _ENGLISH.search(shown), shown
    assert "does not answer" in _section(case, "commands", "</table>")  # behind the toggle
    audit = _before_toggles(_section(case, "audit", "</ol>"))
    assert "Kommando sendt til måleren (Åpen, Måleren svarte ikke)" in audit, audit
    order_page = client.get(f"/orders/{order_id}").text  # staff see the notes there too
    assert "(Måleren svarte ikke etter 3 forsøk; overlevert til kundeservice)" in order_page

    headend.unresponsive.clear()
    override_order(
        world.engine, world.staff, order_id, kind="retry", reason="måler startet på nytt"
    )
    for _ in range(6):
        await runner.run_orders()
    client.get("/lang/en")
    case = client.get(f"/staff/orders/{order_id}").text
    timeline = _before_toggles(_section(case, "timeline", "</table>"))
    assert "The meter did not answer after 3 attempts; handed to customer service" in timeline
    assert "måler startet på nytt" in timeline  # typed by customer service: as typed
    assert "The head-end system accepted the command (port: Open)" in timeline
    assert "Read back from the meter: Open; data seen 1 time" in timeline
    assert "Data seen from the meter; done notice queued for the customer" in timeline
    assert "the system (job runner)" in timeline
    commands = _before_toggles(_section(case, "commands", "</table>"))
    assert "Open the port" in commands and "Port: Open, data seen since the change: 1" in commands
    for shown in (timeline, commands):
        assert not _RAW.search(shown), shown


def test_notes_written_in_english_before_the_codes_are_worded_too(
    client: TestClient, world: World
) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request())
    old = [
        ("submitted", "portal; holder"),
        ("no_answer", "meter 123 does not answer; attempt 1, next in 30 s"),
        ("give_up", "meter_no_answer after 3 attempts; handed to customer service"),
        ("command_ok", "head-end accepted: port open"),
        ("readback_ok", "read back open; 2 push(es) seen"),
        ("confirm", "data seen from the meter; done notice queued for the customer"),
        ("override_retry", "the meter was rebooted"),  # typed: shown as typed
    ]
    with world.engine.begin() as conn:
        conn.execute(delete(order_events).where(order_events.c.order_id == order_id))
        for event, note in old:
            conn.execute(
                insert(order_events).values(
                    order_id=order_id,
                    at=utcnow(),
                    to_state="validated",
                    event=event,
                    actor="system",
                    note=note,
                )
            )
    sign_in(client, world, STAFF_EMAIL)
    timeline = _before_toggles(
        _section(client.get(f"/staff/orders/{order_id}").text, "timeline", "</table>")
    )
    for line in (
        "portalen, bestilt som kontraktseier",
        "Måleren svarte ikke; forsøk 1, neste om 30 s",
        "Måleren svarte ikke etter 3 forsøk; overlevert til kundeservice",
        "Head-end-systemet godtok kommandoen (port: Åpen)",
        "Lest tilbake fra måleren: Åpen; data sett 2 ganger",
        "Data sett fra måleren; melding om at det er gjort, er lagt i kø til kunden",
        "the meter was rebooted",
    ):
        assert line in timeline, timeline
    assert not _ENGLISH.search(timeline), timeline


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
