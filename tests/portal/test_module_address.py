"""Where a HAN module goes: by post to a delivery address (the installation's unless the customer
changes it), or to be picked up at a configured place with its opening hours. The order form,
the order page, the back office, the mails (through a real SMTP server) and the API show it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select
from test_web import csrf_of, sign_in

from hanport.portal.db.schema import shipments
from hanport.portal.domain.shipments import PickupPlace
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.errors import InvalidInput
from hanport.portal.services.intake import submit_order
from hanport.portal.services.notify import Letterhead, SmtpMailer
from hanport.portal.services.shipments import update_shipment
from hanport.portal.settings import SettingsError, load_settings
from hanport.portal.web.app import PortalConfig, create_app

PLACES = (
    PickupPlace(
        "Fjordnett kundesenter",
        "Kaigata 1, 6800 Førde",
        "man–fre 08–16",
        "mån–fre 08–16",
        "Mon–Fri 08–16",
    ),
    PickupPlace("Lager Florø", "Industrivegen 4, 6900 Florø", "10:00–14:00"),
)


def _shipment(world: World, order_id: int):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(select(shipments).where(shipments.c.order_id == order_id)).one()


@pytest.mark.both_databases
def test_by_post_the_module_goes_to_the_installation_unless_changed(world: World) -> None:
    default = submit_order(world.engine, world.holder, world.open_request(module_option="post"))
    row = _shipment(world, default)
    assert (row.address_street, row.address_postcode, row.address_city) == (
        "Storgata 1",
        "6800",
        "Førde",
    )
    changed = world.open_request(
        module_option="post",
        delivery_street=" Postboks 12 ",
        delivery_postcode="6801",
        delivery_city="Førde",
    )
    row = _shipment(world, submit_order(world.engine, world.holder, changed))
    assert (row.address_street, row.address_postcode, row.place_name) == (
        "Postboks 12",
        "6801",
        None,
    )
    receipt = world.mails("ola@example.no")[-1][2]
    assert "Leveringsadresse: Postboks 12, 6801 Førde" in receipt


@pytest.mark.both_databases
def test_a_bad_address_is_explained_field_by_field(world: World) -> None:
    request = world.open_request(
        module_option="post",
        delivery_street="x" * 201,
        delivery_postcode="68OO",
        delivery_city="",
    )
    with pytest.raises(InvalidInput) as refused:
        submit_order(world.engine, world.holder, request)
    texts = refused.value.field_texts("nb")
    assert texts["delivery_street"] == "Høyst 200 tegn"
    assert texts["delivery_postcode"] == "Postnummeret er fire sifre, f.eks. 6800"
    assert "poststedet" in texts["delivery_city"]
    assert refused.value.field_texts("en")["delivery_street"] == "At most 200 characters"
    with world.engine.connect() as conn:
        assert conn.execute(select(shipments)).first() is None  # nothing stored


@pytest.mark.both_databases
def test_pick_up_keeps_the_place_and_its_hours_as_configured_then(world: World) -> None:
    request = world.open_request(module_option="pickup", pickup_place="lager-floro")
    order_id = submit_order(world.engine, world.holder, request, places=PLACES)
    row = _shipment(world, order_id)
    assert (row.method, row.place_name, row.place_address) == (
        "pickup",
        "Lager Florø",
        "Industrivegen 4, 6900 Florø",
    )
    assert row.address_street is None
    receipt = world.mails("ola@example.no")[-1][2]
    assert "Hentested: Lager Florø, Industrivegen 4, 6900 Florø. Åpningstider: 10:00–14:00" in (
        receipt
    )
    first = submit_order(
        world.engine, world.holder, world.open_request(module_option="pickup"), places=PLACES
    )
    assert _shipment(world, first).place_name == "Fjordnett kundesenter"  # none chosen: first


def test_an_unknown_place_or_no_places_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as unknown:
        request = world.open_request(module_option="pickup", pickup_place="nowhere")
        submit_order(world.engine, world.holder, request, places=PLACES)
    assert unknown.value.field_texts("en") == {
        "pickup_place": "Choose one of the pick-up places shown"
    }
    with pytest.raises(InvalidInput) as none:
        submit_order(
            world.engine, world.holder, world.open_request(module_option="pickup"), places=()
        )
    assert "choose delivery by post" in none.value.field_texts("en")["module_option"]


@pytest.mark.parametrize(
    ("lang", "hours"),
    [("nb", "man–fre 08–16"), ("nn", "mån–fre 08–16"), ("en", "Mon–Fri 08–16")],
)
def test_the_mail_gives_the_opening_hours_in_the_readers_language(
    world: World, lang: str, hours: str
) -> None:
    from sqlalchemy import update

    from hanport.portal.db.schema import parties

    with world.engine.begin() as conn:
        conn.execute(update(parties).where(parties.c.email == "ola@example.no").values(lang=lang))
    request = world.open_request(module_option="pickup", pickup_place="fjordnett-kundesenter")
    submit_order(world.engine, world.holder, request, places=PLACES)
    assert hours in world.mails("ola@example.no")[-1][2]


async def test_the_sent_mail_through_smtp_carries_the_address(
    sqlite_world: World, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    world = sqlite_world
    request = world.open_request(
        module_option="post",
        delivery_street="Fjellvegen 7",
        delivery_postcode="6817",
        delivery_city="Naustdal",
    )
    order_id = submit_order(world.engine, world.holder, request)
    update_shipment(world.engine, world.staff, order_id, "shipped", "70701234567")
    mailer = SmtpMailer(
        smtp_server.host, smtp_server.port, letterhead=Letterhead("Fjordnett AS", "", "https://x")
    )
    fast = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)
    await JobRunner(world.engine, world.headend(), mailer, fast).run_outbox()
    sent: list[EmailMessage] = [m for m in smtp_server.messages if "HAN-modul" in m["Subject"]]
    assert len(sent) == 1
    body = sent[0].get_content()
    assert "Sporingsnummer: 70701234567" in body
    assert "Leveringsadresse: Fjellvegen 7, 6817 Naustdal" in body
    assert f"https://x/orders/{order_id}" in body


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    config = PortalConfig(engine=world.engine, secret_key="test-secret-" * 3, pickup_places=PLACES)
    with TestClient(create_app(config)) as test_client:
        yield test_client


def _order_form(page: str) -> dict[str, str]:
    terms = re.search(r'name="terms_version_id" value="(\d+)"', page)
    assert terms
    return {
        "csrf": csrf_of(page),
        "action": "open",
        "terms_version_id": terms.group(1),
        "declaration": "inside_home",
        "terms_accepted": "yes",
    }


def test_the_order_form_offers_both_and_explains_a_bad_address(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}").text
    assert 'name="delivery_street" maxlength="200"' in page
    assert 'value="Storgata 1"' in page and 'value="6800"' in page  # the installation's
    assert 'value="fjordnett-kundesenter" checked' in page and "Lager Florø" in page
    answer = client.post(
        f"/points/{world.mpid}/orders",
        data={
            **_order_form(page),
            "module_option": "post",
            "delivery_street": "Ny veg 2",
            "delivery_postcode": "12",
            "delivery_city": "Førde",
        },
    )
    assert answer.status_code == 422
    assert "Postnummeret er fire sifre" in answer.text and "Traceback" not in answer.text
    assert 'value="Ny veg 2"' in answer.text  # what was typed stays
    assert 'value="post" checked' in answer.text


def test_pick_up_through_the_pages_and_staff_mark_it_picked_up(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}").text
    placed = client.post(
        f"/points/{world.mpid}/orders",
        data={**_order_form(page), "module_option": "pickup", "pickup_place": "lager-floro"},
    )
    assert placed.status_code == 200, placed.text
    order_id = int(str(placed.url).rsplit("/", 1)[1])
    assert "Hentested: Lager Florø, Industrivegen 4, 6900 Florø" in placed.text
    assert '<li aria-current="step"><strong>bestilt</strong></li>' in placed.text
    assert "<li>hentet</li>" in placed.text
    with TestClient(client.app) as staff:
        csrf = sign_in(staff, world, STAFF_EMAIL)
        case = staff.get(f"/staff/orders/{order_id}").text
        assert "Hentested: Lager Florø" in case and 'id="mark-picked-up"' in case
        marked = staff.post(
            f"/staff/orders/{order_id}/shipment", data={"csrf": csrf, "state": "picked_up"}
        )
    assert marked.status_code == 200
    assert _shipment(world, order_id).state == "picked_up"
    assert 'id="mark-picked-up"' not in marked.text  # nothing further to do
    assert (
        '<li aria-current="step"><strong>hentet</strong></li>'
        in client.get(f"/orders/{order_id}").text
    )


def test_the_api_takes_the_choice_and_the_order_shows_it(client: TestClient, world: World) -> None:
    key = create_token(world.engine, world.holder.party_id or 0, "provider", scope="act")
    auth = {"Authorization": f"Bearer {key}"}
    places = client.get("/api/v1/pickup-places", headers=auth).json()
    assert [p["key"] for p in places] == ["fjordnett-kundesenter", "lager-floro"]
    assert places[0]["opening_hours"]["nn"] == "mån–fre 08–16"
    body = {
        "action": "open",
        "terms_version_id": world.terms_id,
        "terms_accepted": True,
        "declaration": "inside_home",
        "module_option": "post",
        "delivery_street": "Fjellvegen 7",
        "delivery_postcode": "6817",
        "delivery_city": "Naustdal",
    }
    made = client.post(f"/api/v1/metering-points/{world.mpid}/orders", json=body, headers=auth)
    assert made.status_code == 201, made.text
    module = made.json()["module"]
    assert module["delivery_address"] == "Fjellvegen 7, 6817 Naustdal"
    assert (module["method"], module["state"], module["pickup_place"]) == (
        "post",
        "requested",
        None,
    )
    read = client.get(f"/api/v1/orders/{made.json()['id']}", headers=auth).json()
    assert read["module"] == module
    bad = client.post(
        f"/api/v1/metering-points/{world.mpid}/orders",
        json={**body, "delivery_postcode": "6817a", "delivery_street": "x" * 201},
        headers={**auth, "Accept-Language": "en"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"]["delivery_street"] == "At most 200 characters"
    assert "delivery_postcode" in bad.json()["error"]["fields"]
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["OrderIn"]
    assert schema["properties"]["delivery_street"]["anyOf"][0]["maxLength"] == 200
    assert schema["properties"]["delivery_postcode"]["anyOf"][0]["pattern"] == "^[0-9]{4}$"


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "portal.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_pickup_places_from_the_file_with_hours_per_language(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[[pickup_places]]\nname = 'Kundesenter'\naddress = 'Kaigata 1, 6800 Førde'\n"
        "opening_hours = { nb = 'man–fre 8–16', en = 'Mon–Fri 8–16' }\n",
    )
    [place] = load_settings(config=config, environ={}).pickup_places
    assert (place.hours("nb"), place.hours("nn"), place.hours("en")) == (
        "man–fre 8–16",
        "man–fre 8–16",  # nynorsk falls back to bokmål
        "Mon–Fri 8–16",
    )
    assert load_settings(environ={}).pickup_places[0].name == "Demo nett kundesenter"
    assert load_settings(config=_config(tmp_path, "[pickup]\nplaces = []\n"), environ={}) \
        .pickup_places == ()  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[pickup_places]]\nname = 'Lager'\n", "pickup.places[1].address: 1–200"),
        (
            "[[pickup_places]]\nname='a'\naddress='b'\nopening_hours={nb='x', de='y'}\n",
            "unknown language de",
        ),
        (
            "[[pickup_places]]\nname='a'\naddress='b'\nopening_hours={nb='x'}\n",
            "opening_hours.en mangler / is missing",
        ),
        (
            "[[pickup_places]]\nname='Lager'\naddress='b'\nopening_hours='c'\n"
            "[[pickup_places]]\nname='LAGER'\naddress='d'\nopening_hours='e'\n",
            "the same name twice (lager)",
        ),
        (
            "[[pickup_places]]\nname='a'\naddress='b'\nopening_hours='c'\n"
            "[[pickup.places]]\nname='d'\naddress='e'\nopening_hours='f'\n",
            "give the places once",
        ),
        ("[[pickup_places]]\nname='!!'\naddress='b'\nopening_hours='c'\n", "letters or digits"),
        ("pickup_places = 'Førde'\n", "must be [[pickup.places]] tables"),
        (
            "[[pickup_places]]\nname='a'\naddress='" + "b" * 201 + "'\nopening_hours='c'\n",
            "pickup.places[1].address: 1–200",
        ),
    ],
)
def test_bad_pickup_places_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(config=_config(tmp_path, text), environ={})
    assert message in str(raised.value)


def test_a_meter_with_the_port_built_in_is_offered_no_module(
    client: TestClient, world: World
) -> None:
    from hanport.portal.seed import DEMO_METERS

    aidon = next(m for m in DEMO_METERS if m.manufacturer == "Aidon")
    sign_in(client, world, aidon.customer_email)
    page = client.get(f"/points/{aidon.metering_point_id}").text
    assert 'name="delivery_street"' not in page and 'value="pickup"' not in page
    assert 'id="no-module-needed"' in page and "ingen modul" in page
    assert '<input type="hidden" name="module_option" value="have">' in page
    placed = client.post(
        f"/points/{aidon.metering_point_id}/orders",
        data={**_order_form(page), "module_option": "have"},  # the form's hidden field
    )
    assert placed.status_code == 200, placed.text
    assert 'id="shipment"' not in placed.text  # nothing is sent


@pytest.mark.both_databases
@pytest.mark.parametrize("street", ["Storgata 1\x00", "Storgata 1\nc/o Kari"])
def test_an_address_is_one_printable_line(world: World, street: str) -> None:
    request = world.open_request(
        module_option="post",
        delivery_street=street,
        delivery_postcode="6800",
        delivery_city="Førde",
    )
    with pytest.raises(InvalidInput) as refused:
        submit_order(world.engine, world.holder, request)
    assert refused.value.field_texts("en") == {
        "delivery_street": "Write it on one line, without control characters"
    }
