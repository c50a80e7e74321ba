"""Proxy invitations are rate-limited per contract holder and per agent address; refusals are
audited, explained in both languages, and the limits hold under concurrent requests."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from portal_world import World, oslo_today
from sqlalchemy import func, select

from hanport.portal.db.schema import audit_events, contracts, parties, proxies
from hanport.portal.domain.model import Actor
from hanport.portal.services.errors import RateLimited
from hanport.portal.services.proxies import (
    MAX_INVITES_PER_AGENT,
    MAX_INVITES_PER_PRINCIPAL,
    invite_proxy,
)
from hanport.portal.services.tx import utcnow

LATER = (oslo_today() + timedelta(days=60)).isoformat()


def _invite(world: World, actor: Actor, mpid: str, email: str, **kwargs: object) -> int:
    return invite_proxy(
        world.engine,
        actor,
        mpid,
        agent_email=email,
        agent_name="Helper",
        scope="view",
        valid_to=str(kwargs.pop("valid_to", LATER)),
        **kwargs,  # type: ignore[arg-type]
    )


def _given_by(world: World, principal: int | None) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(proxies).where(proxies.c.principal_id == principal)
            ).scalar_one()
        )


def _rate_refusals(world: World) -> list[str]:
    with world.engine.connect() as conn:
        return [
            r.data_json
            for r in conn.execute(
                select(audit_events.c.data_json).where(
                    audit_events.c.action == "proxy.invite.refused"
                )
            )
            if "rate_limited" in r.data_json
        ]


def _kari(world: World) -> tuple[Actor, str]:
    assert world.stranger.party_id is not None
    with world.engine.connect() as conn:
        mpid = conn.execute(
            select(contracts.c.metering_point_id).where(
                contracts.c.party_id == world.stranger.party_id
            )
        ).scalar_one()
    return world.stranger, str(mpid)


def test_a_holder_gives_at_most_the_daily_number(world: World) -> None:
    already = _given_by(world, world.holder.party_id)  # the world's four proxies
    for n in range(MAX_INVITES_PER_PRINCIPAL - already):
        _invite(world, world.holder, world.mpid, f"helper{n}@example.no")
    with pytest.raises(RateLimited) as caught:
        _invite(world, world.holder, world.mpid, "one-more@example.no")
    assert "siste døgnet" in caught.value.nb and "last 24 hours" in caught.value.en
    assert _given_by(world, world.holder.party_id) == MAX_INVITES_PER_PRINCIPAL
    with world.engine.connect() as conn:
        stranger = conn.execute(
            select(parties.c.id).where(parties.c.email == "one-more@example.no")
        ).first()
    assert stranger is None  # nothing half-written
    assert len(_rate_refusals(world)) == 1
    assert '"limit": "principal"' in _rate_refusals(world)[0]
    # a day later the holder may invite again
    tomorrow = utcnow() + timedelta(days=1, minutes=1)
    _invite(world, world.holder, world.mpid, "one-more@example.no", now=tomorrow)


def test_a_holder_invites_one_address_at_most_the_daily_number(world: World) -> None:
    kari, kari_mpid = _kari(world)
    target = "popular@example.no"
    for _ in range(MAX_INVITES_PER_AGENT):
        # re-invitations replace the previous proxy, but every one mails the address
        _invite(world, world.holder, world.mpid, target)
    with pytest.raises(RateLimited) as caught:
        _invite(world, world.holder, world.mpid, target)
    assert "denne e-postadressen" in caught.value.nb.lower()
    assert "this e-mail address" in caught.value.en.lower()
    assert '"limit": "agent"' in _rate_refusals(world)[0]
    # another customer may still authorise the same address: a provider is many customers'
    # agent, and one customer's invitations neither use up nor reveal another's
    _invite(world, kari, kari_mpid, target)
    _invite(world, world.holder, world.mpid, "someone-else@example.no")


@pytest.mark.both_databases
def test_parallel_invitations_respect_the_limit(world: World) -> None:
    target = "rush@example.no"
    barrier = threading.Barrier(MAX_INVITES_PER_AGENT + 4)
    results: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        actor, mpid = world.holder, world.mpid
        barrier.wait()
        try:
            _invite(world, actor, mpid, target)
            outcome = "ok"
        except RateLimited:
            outcome = "limited"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(barrier.parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == MAX_INVITES_PER_AGENT
    with world.engine.connect() as conn:
        given = conn.execute(
            select(func.count())
            .select_from(proxies)
            .join(parties, parties.c.id == proxies.c.agent_id)
            .where(parties.c.email == target, proxies.c.principal_id == world.holder.party_id)
        ).scalar_one()
    assert given == MAX_INVITES_PER_AGENT
