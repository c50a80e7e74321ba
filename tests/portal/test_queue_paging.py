"""The back-office queue sorts by urgency in SQL and pages through every open order: with more
open orders than fit on a page, the most urgent case is on page 1 and none is cut off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from portal_world import World, code_from
from sqlalchemy import insert, select

from hanport.portal.db.schema import meters, orders
from hanport.portal.seed import STAFF_EMAIL
from hanport.portal.services import queries
from hanport.portal.services.tx import utcnow
from hanport.portal.web.app import PortalConfig, create_app

OPEN_ORDERS = 230  #: more than the old LIMIT 200 and than two pages of 100


def _fill_queue(world: World) -> dict[str, int]:
    """Many waiting orders; the escalated one has the latest deadline of all, and one field-work
    case, so sorting only the first rows by deadline would lose them."""
    now = utcnow()
    with world.engine.begin() as conn:
        meter_pk = conn.execute(
            select(meters.c.id).where(meters.c.metering_point_id == world.mpid)
        ).scalar_one()
        base = {
            "metering_point_id": world.mpid,
            "meter_id": meter_pk,
            "action": "close",
            "channel": "portal",
            "requested_by": world.holder.party_id,
            "contact_email": "ola@example.no",
            "lang": "nb",
            "attempts": 0,
            "push_seen": False,
            "created_at": now,
            "updated_at": now,
        }
        conn.execute(
            insert(orders),
            [
                {**base, "state": "retrying", "sla_due_at": now + timedelta(hours=n)}
                for n in range(OPEN_ORDERS - 2)
            ]
            + [{**base, "state": "completed", "sla_due_at": now}],  # not in the queue
        )
        ids = {}
        for state, due in (("escalated", 999), ("needs_field_work", 500)):
            ids[state] = conn.execute(
                insert(orders)
                .values(**base, state=state, sla_due_at=now + timedelta(hours=due))
                .returning(orders.c.id)
            ).scalar_one()
    return ids


@pytest.mark.both_databases
def test_the_most_urgent_come_first_and_every_page_is_reachable(world: World) -> None:
    ids = _fill_queue(world)
    with world.engine.connect() as conn:
        first = queries.queue(conn, 1, per_page=100)
        pages = [queries.queue(conn, n, per_page=100) for n in range(1, first.pages + 1)]
        beyond = queries.queue(conn, 99, per_page=100)
    assert (first.total, first.pages) == (OPEN_ORDERS, 3)
    assert [r.id for r in first.rows[:2]] == [ids["needs_field_work"], ids["escalated"]]
    rows = [r for p in pages for r in p.rows]
    assert len(rows) == len({r.id for r in rows}) == OPEN_ORDERS  # nothing cut off or repeated
    waiting = [r.sla_due_at for r in rows[2:]]
    assert waiting == sorted(waiting)
    assert beyond.page == 3 and beyond.rows == pages[-1].rows


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(PortalConfig(engine=world.engine, secret_key="test-secret-" * 3))
    with TestClient(app) as test_client:
        yield test_client


def test_the_queue_page_links_to_the_other_pages(client: TestClient, world: World) -> None:
    ids = _fill_queue(world)
    page = client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    client.post("/signin", data={"csrf": csrf.group(1), "email": STAFF_EMAIL})
    code = code_from(world.mails(STAFF_EMAIL)[-1][2])
    client.post("/signin/code", data={"csrf": csrf.group(1), "email": STAFF_EMAIL, "code": code})

    first = client.get("/staff")
    assert first.status_code == 200
    assert f"{OPEN_ORDERS} åpne saker" in first.text
    assert f'href="/staff/orders/{ids["escalated"]}"' in first.text
    assert 'href="/staff?page=2"' in first.text and 'href="/staff?page=3"' in first.text
    last = client.get("/staff?page=3")
    assert 'rel="prev"' in last.text and 'rel="next"' not in last.text
    listed = set()
    for n in (1, 2, 3):
        listed |= set(
            re.findall(r'href="/staff/orders/(\d+)"', client.get(f"/staff?page={n}").text)
        )
    assert len(listed) == OPEN_ORDERS
    assert client.get("/staff?page=abc").status_code == 200  # a mangled link: the first page
