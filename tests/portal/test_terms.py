"""Terms of use: publishing (service, back office, CLI), scheduled versions, accepting again."""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select
from test_web import sign_in

from hanport.cli import main
from hanport.portal.db.schema import audit_events, orders, terms_versions
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.audit import verify_chain
from hanport.portal.services.errors import Conflict, InvalidInput, Refused
from hanport.portal.services.intake import submit_order
from hanport.portal.services.lifecycle import cancel_order
from hanport.portal.services.terms import (
    canonical_text,
    current_terms,
    list_terms,
    publish_terms,
    terms_hash,
)
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app

NEW_NB = "Vilkår for HAN-porten, versjon 2.0\n\n1. Måleren må være fysisk sikret.\n"
NEW_EN = "Terms of the HAN port, version 2.0\n\n1. The meter must be physically secured.\n"
SUMMARY = "Nytt punkt om sikring / New point on security"


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _audit(world: World, action: str) -> list[tuple[str, dict[str, object]]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.data_json)
            .where(audit_events.c.action == action)
            .order_by(audit_events.c.seq)
        ).all()
    return [(r.actor, json.loads(r.data_json)) for r in rows]


def _versions(world: World) -> list[str]:
    with world.engine.connect() as conn:
        return list(
            conn.execute(select(terms_versions.c.version).order_by(terms_versions.c.id)).scalars()
        )


# -- the service ---------------------------------------------------------------------------------


def test_staff_publishes_terms_hashed_over_the_canonical_text_and_audited(world: World) -> None:
    # typed on Windows, with trailing blanks and a decomposed "å": the same terms as NEW_*
    messy_nb = NEW_NB.replace("\n", " \r\n").replace("å", "a\u030a")
    published = publish_terms(
        world.engine,
        world.staff,
        version=" 2.0 ",
        text_nb=messy_nb,
        text_en=NEW_EN,
        change_summary=SUMMARY,
    )
    expected = hashlib.sha256(f"{NEW_NB}\n\x00\n{NEW_EN}".encode()).hexdigest()
    assert published.sha256 == expected == terms_hash(NEW_NB, NEW_EN)
    assert published.status == "current"
    with world.engine.connect() as conn:
        row = conn.execute(select(terms_versions).where(terms_versions.c.id == published.id)).one()
        assert current_terms(conn, utcnow()).id == published.id  # type: ignore[union-attr]
    # what customers are shown is exactly what was hashed
    assert (row.version, row.text_nb, row.text_en) == ("2.0", NEW_NB, NEW_EN)
    assert terms_hash(row.text_nb, row.text_en) == row.sha256
    assert row.published_by == world.staff.label
    assert row.published_at is not None
    assert row.change_summary == SUMMARY
    [(actor, data)] = _audit(world, "terms.published")[-1:]
    assert actor == world.staff.label
    assert data["version"] == "2.0"
    assert data["sha256"] == expected
    assert data["replaces"] == "1.0"
    assert verify_chain(world.engine).ok


def test_seed_terms_use_the_same_hash(world: World) -> None:
    with world.engine.connect() as conn:
        row = conn.execute(select(terms_versions).where(terms_versions.c.version == "1.0")).one()
    assert row.sha256 == terms_hash(row.text_nb, row.text_en, row.text_nn)
    assert canonical_text(row.text_nb) == row.text_nb
    assert row.published_by is None  # seed data


@pytest.mark.parametrize("who", ["holder", "act_proxy", "stranger"])
def test_customers_cannot_publish_terms_and_the_attempt_is_audited(world: World, who: str) -> None:
    actor = getattr(world, who)
    with pytest.raises(Refused) as refused:
        publish_terms(
            world.engine,
            actor,
            version="9.9",
            text_nb=NEW_NB,
            text_en=NEW_EN,
            change_summary=SUMMARY,
        )
    assert "kundeservice" in refused.value.nb and "customer service" in refused.value.en
    assert _versions(world) == ["1.0"]
    assert _audit(world, "terms.publish.refused") == [
        (actor.label, {"reason": "staff_only"}),
    ]


@pytest.mark.parametrize(
    ("changes", "field", "nb", "en"),
    [
        ({"version": "  "}, "version", "versjonsnummer", "Enter a version"),
        ({"version": "2.0 beta"}, "version", "bokstaver, sifre", "letters, digits"),
        ({"version": "1" * 17}, "version", "opptil 16 tegn", "up to 16 characters"),
        ({"version": "1.0"}, "version", "finnes allerede", "already exists"),
        ({"text_nb": " \n\n "}, "text_nb", "på bokmål", "in Norwegian (bokmål)"),
        ({"text_en": ""}, "text_en", "på engelsk", "in English"),
        ({"text_en": "x" * 100_001}, "text_en", "for lang", "too long"),
        ({"change_summary": ""}, "change_summary", "hva som er endret", "what changed"),
        ({"change_summary": "x" * 1001}, "change_summary", "for lang", "too long"),
        ({"effective_from": "next week"}, "effective_from", "dato og klokkeslett", "date and time"),
        ({"effective_from": "2020-01-01T00:00"}, "effective_from", "tilbakedateres", "backdated"),
    ],
)
def test_every_field_is_validated_in_both_languages(
    world: World, changes: dict[str, str], field: str, nb: str, en: str
) -> None:
    values = {
        "version": "2.0",
        "text_nb": NEW_NB,
        "text_en": NEW_EN,
        "change_summary": SUMMARY,
        "effective_from": "",
    }
    values.update(changes)
    with pytest.raises(InvalidInput) as caught:
        publish_terms(world.engine, world.staff, **values)  # type: ignore[arg-type]
    assert set(caught.value.fields) == {field}
    got_nb, got_en = (caught.value.field_texts(lang)[field] for lang in ("nb", "en"))
    assert nb in got_nb and en in got_en
    assert _versions(world) == ["1.0"]
    assert [data["version"] for _, data in _audit(world, "terms.published")] == ["1.0"]  # seed


def test_a_new_version_takes_effect_after_the_scheduled_ones(world: World) -> None:
    now = utcnow()
    publish_terms(
        world.engine,
        world.staff,
        version="2.0",
        text_nb=NEW_NB,
        text_en=NEW_EN,
        change_summary=SUMMARY,
        effective_from=now + timedelta(days=7),
        now=now,
    )
    with pytest.raises(InvalidInput) as caught:
        publish_terms(
            world.engine,
            world.staff,
            version="2.1",
            text_nb=NEW_NB,
            text_en=NEW_EN,
            change_summary=SUMMARY,
            effective_from=now + timedelta(days=3),
            now=now,
        )
    nb, en = (caught.value.field_texts(lang)["effective_from"] for lang in ("nb", "en"))
    assert "etter versjon 2.0" in nb and "after version 2.0" in en


def test_a_scheduled_version_becomes_current_at_its_time(world: World) -> None:
    now = utcnow()
    starts = now + timedelta(hours=2)
    scheduled = publish_terms(
        world.engine,
        world.staff,
        version="2.0",
        text_nb=NEW_NB,
        text_en=NEW_EN,
        change_summary=SUMMARY,
        effective_from=starts.isoformat(),
        now=now,
    )
    assert scheduled.status == "scheduled"
    with world.engine.connect() as conn:
        assert current_terms(conn, now).version == "1.0"  # type: ignore[union-attr]
        assert current_terms(conn, starts - timedelta(seconds=1)).version == "1.0"  # type: ignore[union-attr]
        assert current_terms(conn, starts).version == "2.0"  # type: ignore[union-attr]
        assert [(v.version, v.status) for v in list_terms(conn, now)] == [
            ("2.0", "scheduled"),
            ("1.0", "current"),
        ]
        assert [(v.version, v.status) for v in list_terms(conn, starts)] == [
            ("2.0", "current"),
            ("1.0", "superseded"),
        ]
    # until then orders accept 1.0; from then on the next order must accept 2.0
    first = submit_order(world.engine, world.holder, world.open_request(), now=now)
    cancel_order(world.engine, world.holder, first, now=now)
    later = starts + timedelta(minutes=1)
    with pytest.raises(Conflict, match=r"terms have changed \(now version 2\.0\)"):
        submit_order(world.engine, world.holder, world.open_request(), now=later)
    second = submit_order(
        world.engine,
        world.holder,
        world.open_request(terms_version_id=scheduled.id),
        now=later,
    )
    with world.engine.connect() as conn:
        row = conn.execute(select(orders).where(orders.c.id == second)).one()
    assert row.terms_version_id == scheduled.id
    assert row.terms_sha256 == scheduled.sha256


# -- the order form ------------------------------------------------------------------------------


def _order_form(csrf: str, terms_id: int, **changes: str) -> dict[str, str]:
    form = {
        "csrf": csrf,
        "action": "open",
        "terms_version_id": str(terms_id),
        "declaration": "locked_cabinet",
        "module_option": "post",
        "terms_accepted": "yes",
    }
    form.update(changes)
    return form


def _checked(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]+)"[^>]*\bchecked\b', html)


def test_a_stale_form_keeps_the_choices_and_shows_the_new_terms(
    client: TestClient, world: World
) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    page = client.get(f"/points/{world.mpid}")
    assert f'name="terms_version_id" value="{world.terms_id}"' in page.text
    # customer service publishes new terms while Ola has the form open
    new = publish_terms(
        world.engine,
        world.staff,
        version="2.0",
        text_nb=NEW_NB,
        text_en=NEW_EN,
        change_summary=SUMMARY,
    )
    stale = client.post(f"/points/{world.mpid}/orders", data=_order_form(csrf, world.terms_id))
    assert stale.status_code == 409
    html = stale.text
    assert "Vilkårene er endret (nå versjon 2.0)" in html
    assert "1. Måleren må være fysisk sikret." in html  # the new text, in the page's language
    assert SUMMARY in html  # what changed
    assert f'name="terms_version_id" value="{new.id}"' in html
    assert _checked(html, "declaration") == ["locked_cabinet"]
    assert _checked(html, "module_option") == ["post"]
    assert _checked(html, "terms_accepted") == []  # accepted again, on purpose
    with world.engine.connect() as conn:
        assert conn.execute(select(orders.c.id)).all() == []
    # accepting the new terms goes through, recording the version, its hash and the language
    done = client.post(
        f"/points/{world.mpid}/orders",
        data=_order_form(csrf, new.id),
        follow_redirects=False,
    )
    assert done.status_code == 303
    with world.engine.connect() as conn:
        order = conn.execute(select(orders)).one()
    assert (order.terms_version_id, order.terms_sha256, order.terms_lang) == (
        new.id,
        new.sha256,
        "nb",
    )
    timeline = client.get(done.headers["location"])
    assert f"Vilkår versjon 2.0 (SHA-256 {new.sha256[:12]}…) godtatt" in timeline.text
    assert "av Ola Nordmann, vist på bokmål" in timeline.text


def test_other_form_errors_keep_the_acceptance_of_the_current_terms(
    client: TestClient, world: World
) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    answer = client.post(
        f"/points/{world.mpid}/orders",
        data=_order_form(csrf, world.terms_id, declaration=""),
    )
    assert answer.status_code == 422
    assert _checked(answer.text, "terms_accepted") == ["yes"]
    assert _checked(answer.text, "module_option") == ["post"]


def test_the_next_order_after_a_change_asks_again(client: TestClient, world: World) -> None:
    first = submit_order(world.engine, world.holder, world.open_request(terms_lang="nb"))
    cancel_order(world.engine, world.holder, first)
    sign_in(client, world, "ola@example.no")
    client.get("/lang/en")
    page = client.get(f"/points/{world.mpid}")
    assert "The terms have changed" not in page.text
    publish_terms(
        world.engine,
        world.staff,
        version="2.0",
        text_nb=NEW_NB,
        text_en=NEW_EN,
        change_summary=SUMMARY,
    )
    page = client.get(f"/points/{world.mpid}")
    assert "The terms have changed since your last order" in page.text
    assert f"Version 2.0: {SUMMARY}" in page.text
    assert "The meter must be physically secured." in page.text  # English page, English terms
    assert _checked(page.text, "terms_accepted") == []


def test_the_case_view_shows_the_accepted_terms(client: TestClient, world: World) -> None:
    order_id = submit_order(world.engine, world.holder, world.open_request(terms_lang="en"))
    with world.engine.connect() as conn:
        sha = conn.execute(
            select(terms_versions.c.sha256).where(terms_versions.c.id == world.terms_id)
        ).scalar_one()
    sign_in(client, world, STAFF_EMAIL)
    case = client.get(f"/staff/orders/{order_id}")
    assert case.status_code == 200
    assert f"Vilkår versjon 1.0 (SHA-256 {sha[:12]}…) godtatt" in case.text
    assert "av Ola Nordmann, vist på engelsk" in case.text
    assert f'href="/staff/terms/{world.terms_id}"' in case.text


# -- the back office -----------------------------------------------------------------------------


def _publish_form(csrf: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf": csrf,
        "version": "2.0",
        "effective_from": "",
        "change_summary": SUMMARY,
        "text_nb": NEW_NB,
        "text_en": NEW_EN,
        "step": "preview",
    }
    form.update(changes)
    return form


def _fingerprint(html: str) -> str:
    found = re.search(r'name="fingerprint" value="([0-9a-f]{64})"', html)
    assert found, html[-2000:]
    return found.group(1)


def test_back_office_lists_previews_and_publishes_terms(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    listing = client.get("/staff/terms")
    assert listing.status_code == 200
    assert 'href="/staff/terms"' in listing.text  # in the staff navigation
    with world.engine.connect() as conn:
        seed_hash = conn.execute(select(terms_versions.c.sha256)).scalar_one()
    assert seed_hash[:12] in listing.text
    assert "gjeldende" in listing.text  # 1.0 marked current
    # preview: nothing stored yet; customers' view in both languages, with what changed
    preview = client.post("/staff/terms", data=_publish_form(csrf))
    assert preview.status_code == 200
    assert terms_hash(NEW_NB, NEW_EN) in preview.text
    assert "Jeg har lest og godtar vilkårene (versjon 2.0)" in preview.text
    assert "I have read and accept the terms (version 2.0)" in preview.text
    assert f"Versjon 2.0: {SUMMARY}" in preview.text
    assert NEW_NB.splitlines()[0] in preview.text and NEW_EN.splitlines()[0] in preview.text
    assert _versions(world) == ["1.0"]
    # the form was edited after the preview: shown again, not published
    fingerprint = _fingerprint(preview.text)
    edited = client.post(
        "/staff/terms",
        data=_publish_form(csrf, step="publish", fingerprint=fingerprint, text_en="Changed\n"),
    )
    assert edited.status_code == 200
    assert "Skjemaet er endret etter forhåndsvisningen" in edited.text
    assert _versions(world) == ["1.0"]
    # publishing what was previewed
    done = client.post(
        "/staff/terms",
        data=_publish_form(csrf, step="publish", fingerprint=fingerprint),
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _versions(world) == ["1.0", "2.0"]
    shown = client.get(done.headers["location"])
    assert shown.status_code == 200
    assert "Publisert." in shown.text
    assert "Kundeservice Demo" in shown.text  # the publisher by name, not a party id
    assert terms_hash(NEW_NB, NEW_EN) in shown.text
    assert "gjeldende" in shown.text
    [(actor, data)] = _audit(world, "terms.published")[-1:]
    assert actor == world.staff.label and data["version"] == "2.0"
    # a scheduled one is marked so
    later = (utcnow() + timedelta(days=30)).astimezone().strftime("%Y-%m-%dT%H:%M")
    preview = client.post(
        "/staff/terms", data=_publish_form(csrf, version="3.0", effective_from=later)
    )
    client.post(
        "/staff/terms",
        data=_publish_form(
            csrf,
            version="3.0",
            effective_from=later,
            step="publish",
            fingerprint=_fingerprint(preview.text),
        ),
    )
    assert re.search(
        r">3\.0</a></td><td><span class=\"state terms-scheduled\">planlagt<",
        (client.get("/staff/terms").text),
    )


def test_back_office_form_errors_keep_the_input(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    client.get("/lang/en")
    answer = client.post(
        "/staff/terms",
        data=_publish_form(csrf, version="1.0", text_en="", change_summary="Kept summary"),
    )
    assert answer.status_code == 422
    assert "Version 1.0 already exists" in answer.text
    assert "Enter the text of the terms in English" in answer.text
    assert "Kept summary" in answer.text
    assert "1. Måleren må være fysisk sikret." in answer.text  # the bokmål text as typed
    assert 'id="publish-button"' not in answer.text
    assert _versions(world) == ["1.0"]


def test_back_office_terms_are_for_staff_only(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    assert client.get("/staff/terms").status_code == 403
    assert client.get(f"/staff/terms/{world.terms_id}").status_code == 403
    answer = client.post("/staff/terms", data=_publish_form(csrf, step="publish"))
    assert answer.status_code == 403
    assert _versions(world) == ["1.0"]
    assert [actor for actor, _ in _audit(world, "terms.publish.refused")] == [world.holder.label]
    # and no form without the session's CSRF token
    staff = TestClient(client.app)
    staff_csrf = sign_in(staff, world, STAFF_EMAIL)
    assert staff_csrf
    forged = staff.post("/staff/terms", data=_publish_form("forged", step="publish"))
    assert forged.status_code == 403
    assert _versions(world) == ["1.0"]


def test_back_office_unknown_version_is_404(client: TestClient, world: World) -> None:
    sign_in(client, world, STAFF_EMAIL)
    assert client.get("/staff/terms/999999").status_code == 404


# -- the CLI -------------------------------------------------------------------------------------


def _url(world: World) -> str:
    return world.engine.url.render_as_string(hide_password=False)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    nb, en = tmp_path / "nb.txt", tmp_path / "en.txt"
    nb.write_text(NEW_NB, encoding="utf-8")
    en.write_text(NEW_EN, encoding="utf-8")
    return nb, en


def test_cli_publishes_and_lists_terms(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb, en = _files(tmp_path)
    argv = ["portal-terms", "publish", "--db", _url(world), "--version", "2.0"]
    code = main([*argv, "--nb", str(nb), "--en", str(en), "--summary", SUMMARY])
    out = capsys.readouterr().out
    assert code == 0
    assert terms_hash(NEW_NB, NEW_EN) in out
    actor = f"cli:{getpass.getuser()}"
    [(who, data)] = _audit(world, "terms.published")[-1:]
    assert (who, data["version"]) == (actor, "2.0")
    later = (utcnow() + timedelta(days=10)).isoformat()
    code = main(
        [
            "portal-terms",
            "publish",
            "--db",
            _url(world),
            "--version",
            "3.0",
            "--nb",
            str(nb),
            "--en",
            str(en),
            "--summary",
            "Ny frist / New deadline",
            "--effective-from",
            later,
        ]
    )
    assert code == 0
    capsys.readouterr()
    assert main(["portal-terms", "list", "--db", _url(world)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["3.0", "scheduled"],
        ["2.0", "current"],
        ["1.0", "superseded"],
    ]
    assert f"sha256:{terms_hash(NEW_NB, NEW_EN)[:12]}" in lines[1]
    assert actor in lines[1] and SUMMARY in lines[1]


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing", "nope.txt"),
        ("latin1", "not UTF-8 text"),
        ("empty", "--en: Enter the text of the terms in English"),
        ("no_summary", "--summary: Say briefly what changed"),
        ("backdated", "--effective-from: Terms cannot be backdated"),
        ("bad_moment", "argument --effective-from: 'soon'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    problem: str,
    message: str,
) -> None:
    nb, en = _files(tmp_path)
    extra = ["--summary", SUMMARY]
    if problem == "missing":
        en = tmp_path / "nope.txt"
    elif problem == "latin1":
        en.write_bytes("Vilkår".encode("latin-1"))
    elif problem == "empty":
        en.write_text("\n\n", encoding="utf-8")
    elif problem == "no_summary":
        extra = []
    elif problem == "backdated":
        extra += ["--effective-from", "2020-01-01T00:00"]
    elif problem == "bad_moment":
        extra += ["--effective-from", "soon"]
    argv = ["portal-terms", "publish", "--db", _url(world), "--version", "2.0"]
    try:
        code = main([*argv, "--nb", str(nb), "--en", str(en), *extra])
    except SystemExit as exit_:  # argparse
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert _versions(world) == ["1.0"]


@pytest.mark.both_databases
def test_simultaneous_publishers_cannot_both_take_the_same_slot(world: World) -> None:
    import threading

    starts = (utcnow() + timedelta(days=1)).isoformat()
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def publish(version: str) -> None:
        barrier.wait()
        try:
            publish_terms(
                world.engine,
                world.staff,
                version=version,
                text_nb=NEW_NB,
                text_en=NEW_EN,
                change_summary=SUMMARY,
                effective_from=starts,
            )
            outcomes[version] = "published"
        except InvalidInput as exc:
            outcomes[version] = ",".join(exc.fields)

    threads = [threading.Thread(target=publish, args=(v,)) for v in ("2.0", "2.1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # both at the same moment would leave it to chance which one customers see
    assert sorted(outcomes.values()) == ["effective_from", "published"]
    assert len(_versions(world)) == 2


def test_a_stale_form_with_other_errors_says_what_changed(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, "ola@example.no")
    publish_terms(
        world.engine,
        world.staff,
        version="2.0",
        text_nb=NEW_NB,
        text_en=NEW_EN,
        change_summary=SUMMARY,
    )
    answer = client.post(
        f"/points/{world.mpid}/orders",
        data=_order_form(csrf, world.terms_id, module_option=""),
    )
    assert answer.status_code == 422
    assert f"Versjon 2.0: {SUMMARY}" in answer.text
    assert _checked(answer.text, "declaration") == ["locked_cabinet"]
    assert _checked(answer.text, "terms_accepted") == []  # the tick was for 1.0


def test_cli_on_a_database_that_is_not_the_portals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["portal-terms", "list", "--db", f"sqlite:///{tmp_path / 'other.db'}"]) == 2
    err = capsys.readouterr().err
    assert "not a port service database" in err and len(err.strip().splitlines()) == 1
    assert main(["--help"]) == 0
    assert "portal-terms" in capsys.readouterr().out
