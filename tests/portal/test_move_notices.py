"""The customer's own "I am moving": the port closes at 00:00 Oslo time on the day through the job
runner's system order, the contract, proxies and pending access requests end, both sides are
told in their language; the market's change of customer, first or later, joins the same move
(never a second close or contract end); the notice can be changed or withdrawn before the day.

Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from portal_world import World, oslo_today
from sqlalchemy import select, update
from test_access_request_pages import ask_for_access

from hanport.portal.db.schema import (
    access_requests,
    audit_events,
    contracts,
    customer_changes,
    orders,
    parties,
    proxies,
)
from hanport.portal.domain.model import Actor, Role
from hanport.portal.domain.moves import Outcome
from hanport.portal.domain.sla import OSLO
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.errors import Conflict, InvalidInput, Refused
from hanport.portal.services.intake import submit_order
from hanport.portal.services.move_notices import (
    check_move_notice,
    give_move_notice,
    move_status,
    withdraw_move_notice,
)
from hanport.portal.services.moves import apply_due_changes, register_customer_change

pytestmark = pytest.mark.both_databases

FAST = JobSettings(max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0)
AGENTS = ("agent@provider.example", "viewer@example.no")  #: Ola's live proxies' holders


def _oslo(day: date, at: time = time(0, 0)) -> datetime:
    return datetime.combine(day, at, tzinfo=OSLO)


class Clock:
    """The job runner's clock: the real time until the test sets it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now or datetime.now(OSLO)


def _changes(world: World) -> list[Any]:
    with world.engine.connect() as conn:
        return list(conn.execute(select(customer_changes).order_by(customer_changes.c.id)).all())


def _system_closes(world: World) -> list[str]:
    with world.engine.connect() as conn:
        return [
            row.state
            for row in conn.execute(
                select(orders.c.state).where(orders.c.channel == "system").order_by(orders.c.id)
            )
        ]


def _contracts(world: World) -> list[tuple[int, date, date | None]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(contracts.c.party_id, contracts.c.valid_from, contracts.c.valid_to)
            .where(contracts.c.metering_point_id == world.mpid)
            .order_by(contracts.c.valid_from, contracts.c.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _audit(world: World, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.action, audit_events.c.data_json)
            .where(audit_events.c.action.like(prefix + "%"))
            .order_by(audit_events.c.seq)
        ).all()
    return [(row.action, json.loads(row.data_json)) for row in rows]


def _subjects(world: World, to: str) -> list[str]:
    return [subject for _, subject, _ in world.mails(to)]


def _party(world: World, email: str) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(parties.c.id).where(parties.c.email == email)).scalar_one())


async def _drain(runner: JobRunner, rounds: int = 8) -> None:
    for _ in range(rounds):
        await runner.run_orders()


async def test_the_port_closes_at_oslo_midnight_and_everything_ends_once(world: World) -> None:
    headend = world.headend()
    clock = Clock()
    runner = JobRunner(world.engine, headend, None, FAST, clock=clock)
    submit_order(world.engine, world.holder, world.open_request())
    await _drain(runner)
    assert headend.ports[world.meter_id] == "open"
    request_id = ask_for_access(world)  # a provider's request Ola has not answered
    day = oslo_today() + timedelta(days=3)

    given = give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    assert given.outcome is Outcome.REGISTERED and given.effective_date == day
    written = day.strftime("%d.%m.%Y")
    assert _subjects(world, "ola@example.no")[-1] == (
        f"Flyttingen din fra målepunkt {world.mpid} den {written}"
    )
    for agent in AGENTS:  # everyone holding a live power of attorney is told
        assert _subjects(world, agent)[-1] == f"Ola Nordmann flytter fra målepunkt {world.mpid}"
    assert _subjects(world, "old@example.no")[-1:] != [
        f"Ola Nordmann flytter fra målepunkt {world.mpid}"
    ]  # an expired proxy is not

    clock.now = _oslo(day - timedelta(days=1), time(23, 59, 59))
    await runner.run_customer_changes()
    assert _system_closes(world) == []  # not before the day
    clock.now = _oslo(day)  # 00:00 in Oslo: the close order is placed at that moment
    await runner.run_customer_changes()
    assert _system_closes(world) == ["validated"]
    await _drain(runner)
    await runner.run_customer_changes()
    await runner.run_customer_changes()  # again: nothing is done twice
    assert _system_closes(world) == ["completed"]
    assert headend.ports[world.meter_id] == "closed"

    [change] = _changes(world)
    assert change.port_closed_at is not None and change.handled_at == _oslo(day)
    ola = world.holder.party_id
    assert [(p, f, t) for p, f, t in _contracts(world) if p == ola][-1][2] == day
    with world.engine.connect() as conn:
        live = conn.execute(
            select(proxies.c.id).where(
                proxies.c.principal_id == ola, proxies.c.revoked_at.is_(None)
            )
        ).all()
        state = conn.execute(
            select(access_requests.c.state).where(access_requests.c.id == request_id)
        ).scalar_one()
    assert live == [] and state == "ended"
    assert any(
        "Forespørsel" in s and "avsluttet" in s for s in _subjects(world, "drift@varme.example")
    )
    applied = _audit(world, "customer_change.applied")
    assert len(applied) == 1 and applied[0][1]["source"] == "notice"
    assert applied[0][1]["access_requests_ended"] == 1
    assert [a for a, _ in _audit(world, "move_notice")] == ["move_notice.given"]


async def test_the_market_later_confirms_then_the_market_adjusts(world: World) -> None:
    day = oslo_today() + timedelta(days=10)
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    mails_before = len(world.mails("ola@example.no"))
    change_id = register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=day.isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
    )
    [change] = _changes(world)
    assert change.id == change_id and change.market_date == day and change.notice_date == day
    assert len(world.mails("ola@example.no")) == mails_before  # confirmed: nothing new to say
    [(_, data)] = _audit(world, "customer_change.reconciled")
    assert data["outcome"] == "confirmed" and data["source"] == "market"

    # the market's event again (a resend) is refused: the move is registered once
    with pytest.raises(Conflict) as again:
        register_customer_change(
            world.engine,
            world.staff,
            world.mpid,
            effective=(day + timedelta(days=2)).isoformat(),
            new_email="nina@example.no",
            new_name="Nina Ny",
        )
    assert again.value.code == "move_already_registered"


async def test_customer_first_and_the_market_adjusts_the_date(world: World) -> None:
    headend = world.headend()
    notice_day = oslo_today() + timedelta(days=5)
    market_day = notice_day + timedelta(days=2)
    give_move_notice(world.engine, world.holder, world.mpid, notice_day.isoformat())
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=market_day.isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
        new_lang="nn",
    )
    [change] = _changes(world)
    assert change.effective_date == market_day  # the later word sets the date
    [(_, data)] = _audit(world, "customer_change.reconciled")
    assert data["outcome"] == "adjusted"
    assert data["previous_date"] == notice_day.isoformat()
    written = market_day.strftime("%d.%m.%Y")
    assert _subjects(world, "ola@example.no")[-1] == (
        f"Flyttingen din fra målepunkt {world.mpid} er registrert til {written}"
    )
    assert f"den {written}" in world.mails("viewer@example.no")[-1][2]

    # nothing happens on the customer's first date; on the market's, once
    assert apply_due_changes(world.engine, notice_day, _oslo(notice_day)) == 0
    runner = JobRunner(world.engine, headend, None, FAST, clock=Clock(_oslo(market_day)))
    await runner.run_customer_changes()
    await _drain(runner)
    await runner.run_customer_changes()
    nina = _party(world, "nina@example.no")
    assert _contracts(world)[-1] == (nina, market_day, None)
    assert [p for p, _, t in _contracts(world) if t is None] == [nina]
    # invited when the market named her, in nynorsk, for the day her contract begins; on the
    # day welcomed, and not invited a second time once the port is known closed
    assert _subjects(world, "nina@example.no") == [
        f"Du kan bestille HAN-porten på {world.mpid} frå {written}",
        f"Velkomen som kunde på {world.mpid}",
    ]
    assert [d["from_date"] for _, d in _audit(world, "customer_change.invited")] == [
        market_day.isoformat()
    ]
    assert len(_audit(world, "customer_change.applied")) == 1


async def test_market_first_then_the_customer_confirms_and_then_moves_the_date(
    world: World,
) -> None:
    day = oslo_today() + timedelta(days=20)
    change_id = register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=day.isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
    )
    assert move_status(world.engine, world.holder, world.mpid).market_date == day
    confirmed = give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    assert (confirmed.change_id, confirmed.outcome) == (change_id, Outcome.CONFIRMED)
    later = day + timedelta(days=3)
    moved = give_move_notice(world.engine, world.holder, world.mpid, later.isoformat())
    assert (moved.change_id, moved.outcome) == (change_id, Outcome.ADJUSTED)
    [change] = _changes(world)
    assert (change.effective_date, change.market_date, change.notice_date) == (later, day, later)
    actions = [(a, d["outcome"]) for a, d in _audit(world, "move_notice")]
    assert actions == [("move_notice.given", "confirmed"), ("move_notice.changed", "adjusted")]

    # withdrawn, the market's own date applies again; the market's move stays
    withdrawn = withdraw_move_notice(world.engine, world.holder, world.mpid)
    assert (withdrawn.outcome, withdrawn.effective_date) == (Outcome.WITHDRAWN, day)
    [change] = _changes(world)
    assert change.effective_date == day and change.notice_withdrawn_at is not None
    assert _subjects(world, "ola@example.no")[-1] == (
        f"Flyttemeldingen din for {world.mpid} er trukket tilbake"
    )
    assert f"den {day.strftime('%d.%m.%Y')}" in world.mails("ola@example.no")[-1][2]
    # Nina was invited when the market named her, and told again each time the day moved
    assert _subjects(world, "nina@example.no") == [
        f"Du kan bestille HAN-porten på {world.mpid} fra {d.strftime('%d.%m.%Y')}"
        for d in (day, later, day)
    ]


async def test_the_new_customer_invited_ahead_orders_from_the_day_only(world: World) -> None:
    """Invited when the market names her: her contract begins on the day, so she cannot order
    before it; on the day the port is closed first, and then her order is taken."""
    headend = world.headend()
    submit_order(world.engine, world.holder, world.open_request())
    runner = JobRunner(world.engine, headend, None, FAST)
    await _drain(runner)
    assert headend.ports[world.meter_id] == "open"
    day = oslo_today() + timedelta(days=4)
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=day.isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
        new_lang="en",
    )
    written = f"{day.day} {day.strftime('%B')} {day.year}"  # English dates in words
    [(subject, body)] = [(m[1], m[2]) for m in world.mails("nina@example.no")]
    assert subject == f"You can order the HAN port on {world.mpid} from {written}"
    assert f"new customer on metering point {world.mpid} from {written}" in body
    nina = Actor(_party(world, "nina@example.no"), Role.CUSTOMER, "Nina Ny")
    with pytest.raises(Refused):
        submit_order(world.engine, nina, world.open_request())  # no contract before the day
    clock = Clock(_oslo(day, time(0, 5)))
    runner = JobRunner(world.engine, headend, None, FAST, clock=clock)
    await runner.run_customer_changes()  # the change is carried out; the close is placed
    with pytest.raises(Conflict) as closing:
        submit_order(world.engine, nina, world.open_request(), now=clock())
    assert closing.value.code == "closing_after_move"
    await _drain(runner)
    await runner.run_customer_changes()
    assert headend.ports[world.meter_id] == "closed"
    [change] = _changes(world)
    assert change.port_closed_at is not None
    # welcomed on the day; no second invitation once the port is closed
    assert _subjects(world, "nina@example.no") == [
        subject,
        f"Welcome as customer on {world.mpid}",
    ]
    submit_order(world.engine, nina, world.open_request(), now=clock())
    await _drain(runner)
    assert headend.ports[world.meter_id] == "open"


async def test_the_market_after_the_move_was_carried_out_names_the_new_customer(
    world: World,
) -> None:
    today = oslo_today()
    give_move_notice(world.engine, world.holder, world.mpid, today.isoformat())
    apply_due_changes(world.engine, today)  # carried out: contract ended, port known closed
    ola_contract = _contracts(world)[-1]
    assert ola_contract[0] == world.holder.party_id and ola_contract[2] == today
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=today.isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
        new_lang="en",
    )
    apply_due_changes(world.engine, today)
    nina = _party(world, "nina@example.no")
    assert _contracts(world)[-2:] == [ola_contract, (nina, today, None)]  # no second end
    assert _system_closes(world) == []  # the port was closed: no order, then or now
    assert len(_changes(world)) == 1
    assert len(_audit(world, "customer_change.applied")) == 1
    [(_, data)] = _audit(world, "customer_change.reconciled")
    assert data["outcome"] == "confirmed" and data["carried_out"] == today.isoformat()
    assert _subjects(world, "nina@example.no") == [
        f"Welcome as customer on {world.mpid}",
        f"The HAN port on {world.mpid} is ready for you to order",
    ]


async def test_a_withdrawn_notice_leaves_nothing_to_carry_out(world: World) -> None:
    day = oslo_today() + timedelta(days=4)
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    withdrawn = withdraw_move_notice(world.engine, world.holder, world.mpid)
    assert withdrawn.outcome is Outcome.WITHDRAWN and withdrawn.effective_date is None
    again = withdraw_move_notice(world.engine, world.holder, world.mpid)
    assert again.outcome is Outcome.UNCHANGED
    assert apply_due_changes(world.engine, day) == 0
    assert _contracts(world)[-1][2] is None  # Ola's contract goes on
    for agent in AGENTS:
        assert _subjects(world, agent)[-1] == (
            f"Ola Nordmann flytter likevel ikke fra {world.mpid}"
        )
    status = move_status(world.engine, world.holder, world.mpid)
    assert status.effective_date is None and status.notice_date is None
    # a new notice starts a new change; the market's event then joins that one
    give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    register_customer_change(world.engine, world.staff, world.mpid, effective=day.isoformat())
    assert [c.market_date for c in _changes(world)] == [None, day]


async def test_a_resubmitted_form_changes_nothing(world: World) -> None:
    day = oslo_today() + timedelta(days=7)
    first = give_move_notice(
        world.engine, world.holder, world.mpid, day.isoformat(), idempotency_key="k1"
    )
    mails = len(world.mails())
    again = give_move_notice(
        world.engine, world.holder, world.mpid, day.isoformat(), idempotency_key="k1"
    )
    same = give_move_notice(world.engine, world.holder, world.mpid, day.isoformat())
    assert first.change_id == again.change_id == same.change_id
    assert (again.outcome, same.outcome) == (Outcome.UNCHANGED, Outcome.UNCHANGED)
    # another tab changed the date since: the first form sent again does not change it back
    later = day + timedelta(days=1)
    give_move_notice(
        world.engine, world.holder, world.mpid, later.isoformat(), idempotency_key="k2"
    )
    stale = give_move_notice(
        world.engine, world.holder, world.mpid, day.isoformat(), idempotency_key="k2"
    )
    assert stale.outcome is Outcome.UNCHANGED and _changes(world)[0].effective_date == later
    assert len(world.mails()) == mails + 1 + len(AGENTS)  # only the change was told
    assert len(_audit(world, "move_notice")) == 2


@pytest.mark.parametrize(
    ("typed", "lang", "message"),
    [
        ("banana", "nb", "Skriv utflyttingsdatoen som dd.mm.åååå"),
        ("2026-02-30", "en", "Give the move-out date as dd.mm.yyyy"),
        ("yesterday", "nn", "Skriv utflyttingsdatoen som dd.mm.åååå"),
    ],
)
def test_a_bad_date_is_explained(world: World, typed: str, lang: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        give_move_notice(world.engine, world.holder, world.mpid, typed)
    assert caught.value.field_texts(lang) == {"move_out_date": message}


def test_the_date_is_today_to_ninety_days_ahead(world: World) -> None:
    today = oslo_today()
    with pytest.raises(InvalidInput) as past:
        check_move_notice(
            world.engine, world.holder, world.mpid, (today - timedelta(days=1)).isoformat()
        )
    assert past.value.field_texts("nb")["move_out_date"] == (
        f"Utflyttingsdatoen kan ikke være før i dag ({today.strftime('%d.%m.%Y')})"
    )
    last = today + timedelta(days=90)
    with pytest.raises(InvalidInput) as far:
        check_move_notice(
            world.engine, world.holder, world.mpid, (last + timedelta(days=1)).isoformat()
        )
    until = last.strftime("%d.%m.%Y")
    assert far.value.field_texts("nn")["move_out_date"] == (
        f"Utflyttingsdatoen kan vere høgst 90 dagar fram i tid (til og med {until})"
    )
    # both ends are fine, written either way; checking stores nothing
    plan = check_move_notice(world.engine, world.holder, world.mpid, last.strftime("%d.%m.%Y"))
    assert plan.move_out_date == last and sorted(plan.agents) == ["Agent Act", "Viewer"]
    assert (
        check_move_notice(world.engine, world.holder, world.mpid, today.isoformat()).current is None
    )
    assert _changes(world) == []


def test_who_may_give_notice(world: World) -> None:
    day = (oslo_today() + timedelta(days=30)).isoformat()
    for someone in (world.view_proxy, world.expired_proxy, world.stranger):
        with pytest.raises(Refused):
            give_move_notice(world.engine, someone, world.mpid, day)
    refused = _audit(world, "move_notice.give.refused")
    assert [d["reason"] for _, d in refused] == ["proxy_view_only", "proxy_expired", "not_holder"]
    # an act proxy gives it for Ola: Ola hears of it
    by_agent = give_move_notice(world.engine, world.act_proxy, world.mpid, day)
    assert by_agent.outcome is Outcome.REGISTERED
    assert _subjects(world, "ola@example.no")[-1].startswith("Flyttingen din fra målepunkt")
    with pytest.raises(Refused):
        withdraw_move_notice(world.engine, world.view_proxy, world.mpid)
    assert withdraw_move_notice(world.engine, world.staff, world.mpid).outcome is Outcome.WITHDRAWN


def test_on_the_day_the_move_can_no_longer_change(world: World) -> None:
    today = oslo_today()
    give_move_notice(world.engine, world.holder, world.mpid, today.isoformat())
    with pytest.raises(Conflict) as changing:
        give_move_notice(
            world.engine, world.holder, world.mpid, (today + timedelta(days=2)).isoformat()
        )
    assert changing.value.code == "move_under_way"
    # the same notice sent again is answered, not refused
    same = give_move_notice(world.engine, world.holder, world.mpid, today.strftime("%d.%m.%Y"))
    assert same.outcome is Outcome.UNCHANGED
    with pytest.raises(Conflict) as withdrawing:
        withdraw_move_notice(world.engine, world.holder, world.mpid)
    assert withdrawing.value.code == "move_under_way"
    assert not move_status(world.engine, world.holder, world.mpid).may_change


def test_a_date_after_the_contract_ends_is_refused(world: World) -> None:
    end = oslo_today() + timedelta(days=10)
    with world.engine.begin() as conn:
        conn.execute(
            update(contracts)
            .where(contracts.c.metering_point_id == world.mpid, contracts.c.valid_to.is_(None))
            .values(valid_to=end)
        )
    with pytest.raises(Conflict) as caught:
        give_move_notice(
            world.engine, world.holder, world.mpid, (end + timedelta(days=1)).isoformat()
        )
    assert caught.value.code == "move_after_contract"


async def test_a_notice_and_the_market_at_the_same_time_make_one_change(world: World) -> None:
    import asyncio

    day = (oslo_today() + timedelta(days=6)).isoformat()

    def notice(n: int) -> str:
        give_move_notice(world.engine, world.holder, world.mpid, day, idempotency_key=f"k{n}")
        return "notice"

    def market() -> str:
        try:
            register_customer_change(world.engine, world.staff, world.mpid, effective=day)
        except Conflict:
            return "conflict"
        return "market"

    calls = [asyncio.to_thread(notice, n) for n in range(3)]
    calls += [asyncio.to_thread(market) for _ in range(2)]
    results = await asyncio.gather(*calls)
    assert sorted(results) == ["conflict", "market", "notice", "notice", "notice"]
    [change] = _changes(world)  # one move, whichever came first
    assert change.effective_date.isoformat() == day and change.market_at is not None
    assert apply_due_changes(world.engine, change.effective_date) == 1
    assert len(_audit(world, "customer_change.applied")) == 1
