"""Providers: staff registration and the organisation API key (real test database)."""

from __future__ import annotations

import pytest
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import api_tokens, audit_events, parties, providers
from hanport.portal.services.api_keys import KeyUse, actor_for_key, token_hash
from hanport.portal.services.errors import Conflict, InvalidInput, Refused
from hanport.portal.services.providers import ORG_KIND, register_provider


def test_staff_register_a_provider_whose_org_key_authenticates(world: World) -> None:
    registered = register_provider(
        world.engine, world.staff, "923 609 016", " Varmestyring AS ", "Drift@Varme.example"
    )
    with world.engine.connect() as conn:
        row = conn.execute(select(providers)).one()
        party = conn.execute(select(parties).where(parties.c.id == registered.party_id)).one()
        stored = conn.execute(
            select(api_tokens.c.token_hash).where(api_tokens.c.party_id == registered.party_id)
        ).scalar_one()
        audited = conn.execute(
            select(audit_events.c.action).where(audit_events.c.object_type == "provider")
        ).scalars()
        assert list(audited) == ["provider.registered"]
    assert (row.org_number, row.name, row.contact_email) == (
        "923609016",
        "Varmestyring AS",
        "drift@varme.example",
    )
    assert party.kind == ORG_KIND
    assert stored == token_hash(registered.org_key) != registered.org_key
    actor = actor_for_key(world.engine, KeyUse(registered.org_key, "GET", "/api/v1/x"))
    assert actor.party_id == registered.party_id


def test_a_wrong_check_digit_and_a_second_registration_are_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as bad:
        register_provider(world.engine, world.staff, "923609017", "", "not-mail")
    assert set(bad.value.field_texts("nb")) == {"org_number", "name", "contact_email"}
    register_provider(world.engine, world.staff, "923609016", "A", "a@b.example")
    with pytest.raises(Conflict) as again:
        register_provider(world.engine, world.staff, "923609016", "B", "b@b.example")
    assert again.value.code == "provider_exists"


def test_only_staff_register_providers(world: World) -> None:
    with pytest.raises(Refused):
        register_provider(world.engine, world.holder, "923609016", "A", "a@b.example")
