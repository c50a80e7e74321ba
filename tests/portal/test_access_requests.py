"""Providers ask, customers decide: the rules (domain) and the flow through the services."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import access_requests, audit_events, proxies
from hanport.portal.domain.access_requests import (
    FINAL_STATES,
    MAX_REASON_LENGTH,
    AccessEvent,
    AccessRequestRefused,
    AccessState,
    IllegalAccessTransition,
    RequestTerms,
    Scope,
    approved_terms,
    is_expired,
    next_access_state,
    validate_org_number,
    validate_request_terms,
)
from hanport.portal.domain.model import Actor, Role
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.access_requests import (
    answer_request,
    create_request,
    expire_due,
    withdraw_request,
)
from hanport.portal.services.errors import Conflict, NotFound, Refused
from hanport.portal.services.providers import register_provider

TODAY = date(2026, 12, 4)

#: the services' tests (those with a database) run on PostgreSQL as well as SQLite
pytestmark = pytest.mark.both_databases


@pytest.mark.parametrize("number", ["923609016", "974 760 673", "889640782"])
def test_org_number_with_a_matching_mod11_digit_is_accepted(number: str) -> None:
    assert validate_org_number(number) == number.replace(" ", "")


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("923609017", "org_number_check_digit"),
        ("92360901", "org_number_format"),
        ("92360901x", "org_number_format"),
        ("123609016", "org_number_format"),
        ("", "org_number_format"),
    ],
)
def test_org_number_refusals_carry_a_stable_code(number: str, code: str) -> None:
    with pytest.raises(AccessRequestRefused) as refused:
        validate_org_number(number)
    assert refused.value.code == code


def test_only_a_pending_request_can_change_and_every_answer_is_final() -> None:
    for event, state in [
        (AccessEvent.APPROVE, AccessState.APPROVED),
        (AccessEvent.DECLINE, AccessState.DECLINED),
        (AccessEvent.WITHDRAW, AccessState.WITHDRAWN),
        (AccessEvent.EXPIRE, AccessState.EXPIRED),
    ]:
        assert next_access_state(AccessState.PENDING, event) is state
        assert state in FINAL_STATES
        with pytest.raises(IllegalAccessTransition):
            next_access_state(state, AccessEvent.APPROVE)


def test_terms_within_two_years_and_a_reason_are_accepted() -> None:
    terms, reason = validate_request_terms(
        "act", TODAY, TODAY + timedelta(days=729), "  Strømstyring av varmtvannsbereder ", TODAY
    )
    assert terms == RequestTerms(Scope.ACT, TODAY, TODAY + timedelta(days=729))
    assert reason == "Strømstyring av varmtvannsbereder"


@pytest.mark.parametrize(
    ("scope", "start", "end", "reason", "code"),
    [
        ("admin", TODAY, TODAY, "r", "access_scope_unknown"),
        ("view", TODAY, TODAY + timedelta(days=730), "r", "access_period_too_long"),
        ("view", TODAY - timedelta(days=1), TODAY, "r", "access_period_invalid"),
        ("view", TODAY, TODAY - timedelta(days=1), "r", "access_period_invalid"),
        (
            "view",
            TODAY + timedelta(days=91),
            TODAY + timedelta(days=92),
            "r",
            "access_period_invalid",
        ),
        ("view", TODAY, TODAY, "   ", "access_reason_missing"),
        ("view", TODAY, TODAY, "x" * (MAX_REASON_LENGTH + 1), "access_reason_too_long"),
    ],
)
def test_bad_terms_are_refused_with_a_code(
    scope: str, start: date, end: date, reason: str, code: str
) -> None:
    with pytest.raises(AccessRequestRefused) as refused:
        validate_request_terms(scope, start, end, reason, TODAY)
    assert refused.value.code == code


def test_the_customer_may_narrow_and_shorten_but_never_widen() -> None:
    asked = RequestTerms(Scope.ACT, TODAY, TODAY + timedelta(days=365))
    assert approved_terms(asked, None, None) == asked
    shorter = approved_terms(asked, Scope.VIEW, TODAY + timedelta(days=30))
    assert shorter == RequestTerms(Scope.VIEW, TODAY, TODAY + timedelta(days=30))
    view_only = RequestTerms(Scope.VIEW, TODAY, TODAY + timedelta(days=10))
    for scope, end, code in [
        (Scope.ACT, None, "access_scope_widened"),
        (None, TODAY + timedelta(days=11), "access_period_extended"),
        (None, TODAY - timedelta(days=1), "access_period_invalid"),
    ]:
        with pytest.raises(AccessRequestRefused) as refused:
            approved_terms(view_only, scope, end)
        assert refused.value.code == code


def test_a_request_expires_when_its_answer_time_has_passed() -> None:
    created = datetime(2026, 12, 1, 12, tzinfo=UTC)
    window = timedelta(days=14)
    assert not is_expired(created, created + window - timedelta(seconds=1), window)
    assert is_expired(created, created + window, window)


# -- the flow through the services, on the real test database ---------------------------------

NOW = datetime(2026, 12, 4, 10, tzinfo=UTC)


def _provider(world: World) -> Actor:
    registered = register_provider(
        world.engine, world.staff, "923609016", "Varmestyring AS", "drift@varme.example", now=NOW
    )
    return Actor(registered.party_id, Role.CUSTOMER, "Varmestyring AS")


def _ask(world: World, provider: Actor, scope: str = "act", at: datetime = NOW) -> int:
    return create_request(
        world.engine,
        provider,
        world.mpid,
        "ola@example.no",
        scope,
        TODAY,
        TODAY + timedelta(days=365),
        "Styre varmtvannsberederen etter strømprisen",
        now=at,
    )


def _state(world: World, request_id: int) -> str:
    with world.engine.connect() as conn:
        return str(
            conn.execute(
                select(access_requests.c.state).where(access_requests.c.id == request_id)
            ).scalar_one()
        )


def test_approval_narrowed_to_view_and_shortened_creates_that_proxy(world: World) -> None:
    provider = _provider(world)
    request_id = _ask(world, provider)
    proxy_id = answer_request(
        world.engine,
        world.holder,
        request_id,
        approve=True,
        scope=Scope.VIEW,
        valid_to=TODAY + timedelta(days=30),
        now=NOW,
    )
    with world.engine.connect() as conn:
        proxy = conn.execute(select(proxies).where(proxies.c.id == proxy_id)).one()
        actions = set(conn.execute(select(audit_events.c.action)).scalars())
    assert (proxy.agent_id, proxy.scope, proxy.valid_to) == (
        provider.party_id,
        "view",
        TODAY + timedelta(days=30),
    )
    assert _state(world, request_id) == "approved"
    assert {"access_request.created", "access_request.approved", "proxy.created"} <= actions
    with pytest.raises(Conflict):
        answer_request(world.engine, world.holder, request_id, approve=False, now=NOW)


def test_decline_withdraw_and_expiry_end_a_request_without_a_proxy(world: World) -> None:
    provider = _provider(world)
    declined, withdrawn = _ask(world, provider), _ask(world, provider)
    assert answer_request(world.engine, world.holder, declined, approve=False, now=NOW) is None
    withdraw_request(world.engine, provider, withdrawn, now=NOW)
    late = _ask(world, provider)
    assert expire_due(world.engine, timedelta(days=14), now=NOW + timedelta(days=13)) == 0
    assert expire_due(world.engine, timedelta(days=14), now=NOW + timedelta(days=14)) == 1
    assert [_state(world, i) for i in (declined, withdrawn, late)] == [
        "declined",
        "withdrawn",
        "expired",
    ]


def test_only_the_holder_answers_and_only_a_provider_asks(world: World) -> None:
    provider = _provider(world)
    request_id = _ask(world, provider)
    with pytest.raises(NotFound):
        answer_request(world.engine, world.stranger, request_id, approve=True, now=NOW)
    with pytest.raises(Refused):
        _ask(world, world.stranger)
    with pytest.raises(Refused):  # the named customer does not hold the point
        create_request(
            world.engine,
            provider,
            world.mpid,
            "kari@example.no",
            "view",
            TODAY,
            TODAY,
            "r",
            now=NOW,
        )


def test_the_job_runner_expires_unanswered_requests_after_the_configured_time(
    world: World,
) -> None:
    provider = _provider(world)
    request_id = _ask(world, provider)
    moments = iter([NOW + timedelta(days=2, hours=23), NOW + timedelta(days=3)])
    runner = JobRunner(
        world.engine,
        world.headend(),
        None,
        JobSettings(access_request_expire_s=3 * 86400.0),
        clock=lambda: next(moments),
    )
    assert asyncio.run(runner.run_access_request_expiry()) == 0
    assert _state(world, request_id) == "pending"
    assert asyncio.run(runner.run_access_request_expiry()) == 1
    assert _state(world, request_id) == "expired"
