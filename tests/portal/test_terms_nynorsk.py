"""Terms in nynorsk: published with the version (service, back office, CLI, API), shown on
nynorsk pages and recorded as read; a version without a nynorsk text shows bokmål."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portal_world import World
from sqlalchemy import select
from test_terms import NEW_EN, NEW_NB, SUMMARY, _fingerprint, _publish_form, _url
from test_web import csrf_of, sign_in

from hanport.cli import main
from hanport.portal.db.schema import orders, terms_versions
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services.errors import InvalidInput
from hanport.portal.services.terms import MAX_TEXT_CHARS, publish_terms, terms_hash
from hanport.portal.web.app import PortalConfig, create_app

NEW_NN = "Vilkår for HAN-porten, versjon 2.0\n\n1. Målaren må vere fysisk sikra.\n"


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def _publish(world: World, **texts: str) -> int:
    fields = {"text_nb": NEW_NB, "text_en": NEW_EN, **texts}
    return publish_terms(
        world.engine, world.staff, version="2.0", change_summary=SUMMARY, **fields
    ).id


@pytest.mark.both_databases
def test_a_version_with_nynorsk_hashes_all_three_and_one_without_as_before(world: World) -> None:
    published = publish_terms(
        world.engine,
        world.staff,
        version="2.0",
        text_nb=NEW_NB,
        text_en=NEW_EN,
        text_nn=NEW_NN,
        change_summary=SUMMARY,
    )
    assert published.text_nn == NEW_NN and published.text("nn") == NEW_NN
    assert published.sha256 == terms_hash(NEW_NB, NEW_EN, NEW_NN) != terms_hash(NEW_NB, NEW_EN)
    assert terms_hash(NEW_NB, NEW_EN, "") == terms_hash(NEW_NB, NEW_EN)  # old versions keep theirs
    without = publish_terms(
        world.engine,
        world.staff,
        version="3.0",
        text_nb=NEW_NB,
        text_en=NEW_EN,
        change_summary=SUMMARY,
    )
    assert without.text("nn") == NEW_NB  # nynorsk readers read bokmål
    with world.engine.connect() as conn:
        stored = conn.execute(
            select(terms_versions.c.text_nn).where(terms_versions.c.id == without.id)
        ).scalar()
    assert stored is None


def test_a_too_long_nynorsk_text_is_refused_with_the_limit(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        _publish(world, text_nn="x" * (MAX_TEXT_CHARS + 1))
    assert refused.value.field_texts("nn") == {
        "text_nn": f"Den nynorske teksten er for lang (høgst {MAX_TEXT_CHARS} teikn)"
    }


def _order(client: TestClient, world: World, lang: str) -> str:
    client.get(f"/lang/{lang}?next=/points")
    page = client.get(f"/points/{world.mpid}").text
    terms = re.search(r'name="terms_version_id" value="(\d+)"', page)
    assert terms
    placed = client.post(
        f"/points/{world.mpid}/orders",
        data={
            "csrf": csrf_of(page),
            "action": "open",
            "terms_version_id": terms.group(1),
            "declaration": "inside_home",
            "module_option": "have",
            "terms_accepted": "yes",
        },
    )
    assert placed.status_code == 200, placed.text
    with world.engine.connect() as conn:
        return str(conn.execute(select(orders.c.terms_lang).order_by(orders.c.id.desc())).scalar())


def test_nynorsk_pages_show_the_nynorsk_text_or_else_bokmaal(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "ola@example.no")
    client.get("/lang/nn?next=/points")
    assert "Målaren må vere fysisk sikra" not in client.get(f"/points/{world.mpid}").text
    _publish(world, text_nn=NEW_NN)
    page = client.get(f"/points/{world.mpid}").text
    assert "Målaren må vere fysisk sikra" in page and "Måleren må være" not in page
    assert _order(client, world, "nn") == "nn"
    # the next version has no nynorsk text: the nynorsk page shows bokmål and records it
    publish_terms(
        world.engine,
        world.staff,
        version="3.0",
        text_nb=NEW_NB.replace("2.0", "3.0"),
        text_en=NEW_EN,
        change_summary=SUMMARY,
    )
    from hanport.portal.services.lifecycle import cancel_order

    with world.engine.connect() as conn:
        last = conn.execute(select(orders.c.id).order_by(orders.c.id.desc())).scalar_one()
    cancel_order(world.engine, world.holder, last)
    page = client.get(f"/points/{world.mpid}").text
    assert "versjon 3.0" in page and "Måleren må være fysisk sikret" in page
    assert _order(client, world, "nn") == "nb"


def test_back_office_publishes_and_shows_the_nynorsk_text(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world, STAFF_EMAIL)
    assert 'name="text_nn"' in client.get("/staff/terms").text
    preview = client.post("/staff/terms", data=_publish_form(csrf, text_nn=NEW_NN))
    assert "Eg har lese og godtek vilkåra (versjon 2.0)" in preview.text  # the nn box
    assert "Målaren må vere fysisk sikra" in preview.text
    assert terms_hash(NEW_NB, NEW_EN, NEW_NN) in preview.text
    done = client.post(
        "/staff/terms",
        data=_publish_form(
            csrf, text_nn=NEW_NN, step="publish", fingerprint=_fingerprint(preview.text)
        ),
        follow_redirects=False,
    )
    assert done.status_code == 303
    shown = client.get(done.headers["location"]).text
    assert 'id="text-nn"' in shown and "Målaren må vere fysisk sikra" in shown
    seeded = client.get(f"/staff/terms/{world.terms_id}").text
    assert "Dataa er ukrypterte" in seeded  # the seed has its nynorsk text


def test_the_api_gives_the_nynorsk_text_and_the_cli_publishes_it(
    client: TestClient, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = client.get("/api/v1/terms/current").json()
    assert current["text_nn"].startswith("Vilkår for bruk av HAN-porten")
    files = {}
    for lang, text in (("nb", NEW_NB), ("en", NEW_EN), ("nn", NEW_NN)):
        files[lang] = tmp_path / f"{lang}.txt"
        files[lang].write_text(text, encoding="utf-8")

    def argv(version: str, nn: Path) -> list[str]:
        return [
            *("portal-terms", "publish", "--db", _url(world), "--version", version),
            *("--nb", str(files["nb"]), "--en", str(files["en"]), "--nn", str(nn)),
            *("--summary", SUMMARY),
        ]

    assert main(argv("2.0", files["nn"])) == 0, capsys.readouterr().err
    assert terms_hash(NEW_NB, NEW_EN, NEW_NN) in capsys.readouterr().out
    assert client.get("/api/v1/terms/current").json()["text_nn"] == NEW_NN
    missing = main(argv("3.0", tmp_path / "none.txt"))
    assert missing == 2 and "none.txt" in capsys.readouterr().err
