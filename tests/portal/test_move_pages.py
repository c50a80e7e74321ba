""" "I am moving" on the pages (date, confirmation page without JavaScript, a resend changes
nothing, withdraw), in the REST API (act keys; PUT idempotent), and the mails both sides get
through a real SMTP server, in their language, dates dd.mm.yyyy in Norwegian."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from portal_world import World, oslo_today
from sqlalchemy import select, update
from test_web import sign_in

from hanport.portal.db.schema import audit_events, customer_changes, parties
from hanport.portal.domain.model import ProxyScope
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.errors import Refused
from hanport.portal.services.move_notices import (
    give_move_notice,
    move_status,
    withdraw_move_notice,
)
from hanport.portal.services.moves import apply_due_changes, register_customer_change
from hanport.portal.services.notify import Letterhead, SmtpMailer
from hanport.portal.web.app import PortalConfig, create_app

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _changes(world: World) -> list[tuple[object, ...]]:
    with world.engine.connect() as conn:
        return [
            (row.effective_date, row.notice_date, row.notice_withdrawn_at is not None)
            for row in conn.execute(select(customer_changes).order_by(customer_changes.c.id))
        ]


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html[:500]
    return found.group(1)


@pytest.mark.both_databases
def test_the_holder_gives_notice_confirms_resends_and_withdraws(
    client: TestClient, world: World
) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    point = client.get(f"/points/{world.mpid}").text
    assert f'href="/points/{world.mpid}/move" id="moving"' in point
    assert f'<form method="post" action="/points/{world.mpid}/move" id="moving-form">' in point
    page = client.get(f"/points/{world.mpid}/move")
    assert page.status_code == 200 and "<h1>Jeg flytter</h1>" in page.text
    today, last = oslo_today(), oslo_today() + timedelta(days=90)
    assert f'min="{today.isoformat()}" max="{last.isoformat()}"' in page.text
    key = _hidden(page.text, "idempotency_key")
    url = f"/points/{world.mpid}/move"

    # anything but a date from today to 90 days ahead is explained on the form
    for typed, said in [
        ("31.02.2027", "Skriv utflyttingsdatoen som dd.mm.åååå"),
        ((today - timedelta(days=1)).isoformat(), "kan ikke være før i dag"),
        ((last + timedelta(days=1)).isoformat(), "høyst 90 dager fram i tid"),
        ("", "Skriv utflyttingsdatoen som dd.mm.åååå"),
    ]:
        refused = client.post(url, data={"csrf": csrf, "move_out_date": typed})
        assert refused.status_code == 422 and said in refused.text, typed
        assert 'id="move-errors"' in refused.text and "Traceback" not in refused.text

    day = today + timedelta(days=14)
    written = day.strftime("%d.%m.%Y")
    asked = client.post(url, data={"csrf": csrf, "move_out_date": written, "idempotency_key": key})
    assert asked.status_code == 200 and f"<h1>Flytte ut {written}?</h1>" in asked.text
    assert "Agent Act, Viewer" in asked.text  # who will be told
    assert f'href="/points/{world.mpid}/move" id="confirm-no"' in asked.text
    assert _changes(world) == []  # asking stores nothing
    confirm = {
        "csrf": csrf,
        "confirm": "yes",
        "move_out_date": _hidden(asked.text, "move_out_date"),
        "idempotency_key": _hidden(asked.text, "idempotency_key"),
    }
    done = client.post(url, data=confirm, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{url}?done=registered"
    shown = client.get(done.headers["location"]).text
    assert 'id="move-done"' in shown and f"Du har meldt at du flytter ut den {written}" in shown
    point = client.get(f"/points/{world.mpid}").text  # the point's page says so too
    assert 'id="move-pending"' in point and f"ved starten av {written} (kl. 00.00)" in point
    mails = len(world.mails())
    again = client.post(url, data=confirm, follow_redirects=False)  # a resend, a second tab
    assert again.headers["location"] == f"{url}?done=unchanged"
    assert _changes(world) == [(day, day, False)] and len(world.mails()) == mails

    withdraw = client.get(f"{url}/withdraw")
    assert "<h1>Trekke tilbake flyttemeldingen?</h1>" in withdraw.text
    not_yet = client.post(f"{url}/withdraw", data={"csrf": csrf}, follow_redirects=False)
    assert not_yet.headers["location"] == f"{url}/withdraw" and not _changes(world)[0][2]
    gone = client.post(f"{url}/withdraw", data={"csrf": csrf, "confirm": "yes"})
    assert gone.status_code == 200 and "Flyttemeldingen din er trukket tilbake." in gone.text
    assert _changes(world) == [(day, day, True)]


def test_staff_give_notice_only_while_acting_for_the_customer(
    client: TestClient, world: World
) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    url = f"/points/{world.mpid}/move"
    assert 'id="act-first"' in client.get(url).text
    day = (oslo_today() + timedelta(days=5)).isoformat()
    refused = client.post(url, data={"csrf": csrf, "move_out_date": day, "confirm": "yes"})
    assert refused.status_code == 403 and _changes(world) == []
    client.post(
        "/staff/act",
        data={"csrf": csrf, "metering_point_id": world.mpid, "reason": "Kunden ringte inn"},
    )
    form = client.get(url).text
    assert 'id="move-form"' in form and 'id="acting-banner"' in form
    done = client.post(url, data={"csrf": csrf, "move_out_date": day, "confirm": "yes"})
    assert done.status_code == 200 and len(_changes(world)) == 1
    with world.engine.connect() as conn:
        entry = conn.execute(
            select(audit_events.c.data_json).where(audit_events.c.action == "move_notice.given")
        ).scalar_one()
    assert '"acting_reason": "Kunden ringte inn"' in entry


def test_a_view_proxy_sees_the_move_but_cannot_give_it(client: TestClient, world: World) -> None:
    give_move_notice(
        world.engine, world.holder, world.mpid, (oslo_today() + timedelta(days=3)).isoformat()
    )
    csrf = sign_in(client, world, "viewer@example.no")
    page = client.get(f"/points/{world.mpid}/move")
    assert page.status_code == 200 and 'id="move-not-allowed"' in page.text
    assert 'id="move-status"' in page.text and 'id="move-form"' not in page.text
    refused = client.post(
        f"/points/{world.mpid}/move/withdraw", data={"csrf": csrf, "confirm": "yes"}
    )
    assert refused.status_code == 403 and "<h1>Ingen tilgang</h1>" in refused.text


def test_the_api_gives_reads_and_withdraws_with_an_act_key(
    client: TestClient, world: World
) -> None:
    assert world.holder.party_id is not None
    act = {"Authorization": "Bearer " + create_token(world.engine, world.holder.party_id, "app")}
    view_key = create_token(world.engine, world.holder.party_id, "ro", scope=ProxyScope.VIEW)
    view = {"Authorization": f"Bearer {view_key}"}
    url = f"/api/v1/metering-points/{world.mpid}/move-notice"
    day = (oslo_today() + timedelta(days=30)).isoformat()
    assert client.get(url, headers=act).json()["effective_date"] is None
    refused = client.put(url, json={"move_out_date": day}, headers=view)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "key_view_only"
    bad = client.put(url, json={"move_out_date": "2020-01-01"}, headers=act)
    assert bad.status_code == 422 and list(bad.json()["error"]["fields"]) == ["move_out_date"]
    created = client.put(url, json={"move_out_date": day}, headers=act)
    assert created.status_code == 201, created.text
    assert created.json()["outcome"] == "registered" and created.json()["effective_date"] == day
    same = client.put(url, json={"move_out_date": day}, headers=act)
    assert same.status_code == 200 and same.json()["outcome"] == "unchanged"
    read = client.get(url, headers=view).json()
    assert read["move_out_date"] == day and read["can_change"] and not read["registered_by_market"]
    withdrawn = client.delete(url, headers=act)
    assert withdrawn.status_code == 200 and withdrawn.json()["outcome"] == "withdrawn"
    assert client.get(url, headers=act).json()["move_out_date"] is None
    schema = client.get("/api/openapi.json").json()
    body = schema["components"]["schemas"]["MoveNoticeIn"]["properties"]["move_out_date"]
    assert body["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    assert set(schema["paths"]["/api/v1/metering-points/{mpid}/move-notice"]) == {
        "get",
        "put",
        "delete",
    }


async def _sent(world: World, smtp_server) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    letterhead = Letterhead("Fjordnett AS", "Kundeservice", "https://han.example")
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, letterhead=letterhead)
    await JobRunner(world.engine, world.headend(), mailer, FAST).run_outbox()
    sent = list(smtp_server.messages)
    smtp_server.clear()
    return sent


async def test_both_sides_get_the_mail_in_their_language(sqlite_world: World, smtp_server) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    with world.engine.begin() as conn:
        for email, lang in (("viewer@example.no", "nn"), ("agent@provider.example", "en")):
            conn.execute(update(parties).where(parties.c.email == email).values(lang=lang))
    await _sent(world, smtp_server)
    day = oslo_today() + timedelta(days=12)
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    mails = {mail["To"]: mail for mail in await _sent(world, smtp_server)}
    assert set(mails) == {"ola@example.no", "viewer@example.no", "agent@provider.example"}
    written = day.strftime("%d.%m.%Y")
    ola = mails["ola@example.no"]
    assert ola["Subject"] == f"Flyttingen din fra målepunkt {world.mpid} den {written}"
    body = ola.get_content()
    assert f"flytter fra målepunkt {world.mpid} den {written}" in body
    assert "kl. 00.00" in body and "Fjordnett AS" in body
    assert f"https://han.example/points/{world.mpid}/move" in body
    nynorsk = mails["viewer@example.no"]
    assert nynorsk["Subject"] == f"Ola Nordmann flyttar frå målepunkt {world.mpid}"
    assert f"den {written}" in nynorsk.get_content() and "fell bort" in nynorsk.get_content()
    english = mails["agent@provider.example"].get_content()
    assert f"on {day.day} " in english and "power of attorney you hold" in english


def _link(mail: EmailMessage) -> str:
    """The mail's link: the line above the signature."""
    body = mail.get_content().replace("\r\n", "\n")
    return body.split("\n\n-- \n")[0].rstrip("\n").rsplit("\n", 1)[-1]


@pytest.mark.both_databases
async def test_move_mails_link_to_the_move_page(  # type: ignore[no-untyped-def]
    client: TestClient, world: World, smtp_server
) -> None:
    """Each move mail links the page the reader acts on, absolute from the base URL: the move
    page for the customer moving out and their agents, the point's page for the new customer
    once their contract has begun, the front page when the reader no longer (or not yet) sees
    the point. The link opens for the one it was sent to."""
    sign_in(client, world, "ola@example.no")
    await _sent(world, smtp_server)
    move_page = f"https://han.example/points/{world.mpid}/move"
    day = oslo_today() + timedelta(days=12)
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    mails = {mail["To"]: mail for mail in await _sent(world, smtp_server)}
    assert {to: _link(mail) for to, mail in mails.items()} == {
        "ola@example.no": move_page,
        "viewer@example.no": move_page,
        "agent@provider.example": move_page,
    }
    page = client.get(move_page.removeprefix("https://han.example"))
    assert page.status_code == 200 and day.strftime("%d.%m.%Y") in page.text
    withdraw_move_notice(world.engine, world.holder, world.mpid)
    assert {_link(mail) for mail in await _sent(world, smtp_server)} == {move_page}

    # the market names the new customer ahead of the day: invited, linked to the front page
    # (the point is theirs from the day); on the day Ola's last mail links the front page and
    # Nina's welcome the point's page, where she orders
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=day.isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
    )
    [invite] = await _sent(world, smtp_server)
    assert invite["To"] == "nina@example.no" and _link(invite) == "https://han.example/"
    apply_due_changes(world.engine, day)  # as on the day (the mails are stamped now: due)
    links = {(m["To"], m["Subject"].split()[0]): _link(m) for m in await _sent(world, smtp_server)}
    assert links[("ola@example.no", "Kundeforholdet")] == "https://han.example/"
    with pytest.raises(Refused):  # on the day the point is no longer Ola's to see
        move_status(
            world.engine, world.holder, world.mpid, now=datetime.combine(day, time(12), UTC)
        )
    assert links[("nina@example.no", "Velkommen")] == f"https://han.example/points/{world.mpid}"


def test_customer_service_sees_the_moves_waiting(client: TestClient, world: World) -> None:
    sign_in(client, world, STAFF_EMAIL)
    empty = client.get("/staff/moves").text
    assert 'id="no-pending-moves"' in empty and 'id="pending-moves"' not in empty
    day = oslo_today() + timedelta(days=8)
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    listed = client.get("/staff/moves").text
    assert 'id="pending-moves"' in listed and "Kundens flyttemelding" in listed
    assert day.strftime("%d.%m.%Y") in listed and "Ola Nordmann" in listed
    client.get("/lang/en")
    assert "The customer&#39;s notice" in client.get("/staff/moves").text
