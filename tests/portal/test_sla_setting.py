"""`[sla] working_days`: the deadline an order is given, and the back office counts late by, is
the configured number of Norwegian working days, for the web's orders and the job runner's close
after a customer change alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portal_world import World, oslo_today
from sqlalchemy import select

from hanport.portal.db.schema import orders, parties
from hanport.portal.domain.sla import add_working_days
from hanport.portal.jobs import JobRunner, JobSettings
from hanport.portal.services.api_keys import create_token
from hanport.portal.services.intake import submit_order
from hanport.portal.services.moves import register_customer_change
from hanport.portal.services.queries import sla_report
from hanport.portal.settings import ENV_CONFIG


def _order(world: World, order_id: int):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.id == order_id)).one()


def test_an_order_through_the_workers_is_due_after_the_configured_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_world: World
) -> None:
    from hanport.portal.server import ENV_DB, ENV_SECRET, create_from_environment

    world = sqlite_world
    config = tmp_path / "portal.toml"
    config.write_text("[sla]\nworking_days = 1\n", encoding="utf-8")
    monkeypatch.setenv(ENV_CONFIG, str(config))
    monkeypatch.setenv(ENV_DB, str(world.engine.url))
    monkeypatch.setenv(ENV_SECRET, "s" * 32)
    with world.engine.connect() as conn:
        ola = conn.execute(
            select(parties.c.id).where(parties.c.email == "ola@example.no")
        ).scalar_one()
    auth = {"Authorization": f"Bearer {create_token(world.engine, ola, 'sla')}"}
    body = {
        "action": "open",
        "terms_version_id": world.terms_id,
        "terms_accepted": True,
        "declaration": "inside_home",
        "module_option": "have",
    }
    with TestClient(create_from_environment()) as client:
        made = client.post(f"/api/v1/metering-points/{world.mpid}/orders", json=body, headers=auth)
    assert made.status_code == 201, made.text
    order = _order(world, made.json()["id"])
    due = order.sla_due_at
    assert due == add_working_days(order.created_at, 1)
    assert due < add_working_days(order.created_at, 3)  # not the built-in three days
    # the back office counts it late from then on, not two working days later
    with world.engine.connect() as conn:
        before = sla_report(conn, due - timedelta(minutes=1))
        after = sla_report(conn, due + timedelta(minutes=1))
    assert (before.breached_open, after.breached_open) == (0, 1)


async def test_the_close_after_a_customer_change_follows_the_setting(world: World) -> None:
    settings = JobSettings(
        max_attempts=3, backoff_base_s=0.0, poll_s=0.0, push_wait_s=0.0, sla_working_days=7
    )
    runner = JobRunner(world.engine, world.headend(), None, settings)
    submit_order(world.engine, world.holder, world.open_request())
    for _ in range(10):
        await runner.run_orders()
    register_customer_change(
        world.engine,
        world.staff,
        world.mpid,
        effective=oslo_today().isoformat(),
        new_email="nina@example.no",
        new_name="Nina Ny",
    )
    await runner.run_customer_changes()  # the port is open: a close is placed
    with world.engine.connect() as conn:
        closes = conn.execute(select(orders).where(orders.c.channel == "system")).all()
    (close,) = closes
    created: datetime = close.created_at
    assert close.sla_due_at == add_working_days(created, 7)
