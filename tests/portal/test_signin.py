"""Sign-in code limits hold under concurrent requests (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from portal_world import World
from sqlalchemy import select

from hanport.portal.db.schema import audit_events, signin_codes
from hanport.portal.services.errors import InvalidInput, RateLimited
from hanport.portal.services.signin import MAX_CODES, MAX_GUESSES, EmailCodeSignIn
from hanport.portal.services.tx import utcnow


def _all_at_once(count: int, work: Callable[[int], str]) -> list[str]:
    """Run `work(i)` in `count` threads released together; their results."""
    barrier = threading.Barrier(count)
    results: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        outcome = work(i)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.both_databases
def test_parallel_code_requests_respect_the_limit(world: World) -> None:
    signin = EmailCodeSignIn(world.engine, b"k" * 32)

    def ask(i: int) -> str:
        try:
            signin.start("ola@example.no", client=f"10.0.0.{i}")
        except RateLimited:
            return "limited"
        return "sent"

    results = _all_at_once(12, ask)
    assert results.count("sent") == MAX_CODES
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(signin_codes.c.id).where(signin_codes.c.email == "ola@example.no")
        ).all()
    assert len(rows) == MAX_CODES


@pytest.mark.both_databases
def test_parallel_guesses_are_all_counted(world: World) -> None:
    signin = EmailCodeSignIn(world.engine, b"k" * 32)
    signin.start("ola@example.no")

    def guess(i: int) -> str:
        try:
            signin.finish("ola@example.no", f"{(i * 7919) % 1_000_000:06d}")
        except InvalidInput:
            return "wrong"
        return "in"  # pragma: no cover - one in a million

    assert set(_all_at_once(30, guess)) <= {"wrong", "in"}
    with world.engine.connect() as conn:
        code = conn.execute(select(signin_codes)).one()
        checked = conn.execute(
            select(audit_events.c.seq).where(audit_events.c.action == "signin.wrong_code")
        ).all()
    assert code.attempts == MAX_GUESSES
    assert len(checked) == MAX_GUESSES  # only five guesses were ever compared


def test_daily_cap_per_address(sqlite_world: World) -> None:
    signin = EmailCodeSignIn(sqlite_world.engine, b"k" * 32)
    start = utcnow() - timedelta(hours=20)
    for window in range(4):  # three codes in each of four quarter-hours: the tenth is the last
        for n in range(3):
            moment = start + timedelta(minutes=20 * window, seconds=n)
            if window == 3 and n > 0:
                with pytest.raises(RateLimited, match="today"):
                    signin.start("kari@example.no", now=moment)
            else:
                signin.start("kari@example.no", now=moment)
