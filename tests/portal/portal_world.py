"""Test helpers for the port service: a demo world with a person in every authorisation role."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from hanport.portal.db.schema import outbox, proxies, terms_versions
from hanport.portal.domain.model import Actor, Role
from hanport.portal.domain.sla import OSLO
from hanport.portal.seed import DEMO_METERS, STAFF_EMAIL, seed_demo
from hanport.portal.services.headend import InMemoryHeadEnd
from hanport.portal.services.proxies import invite_proxy
from hanport.portal.services.tx import utcnow


def oslo_today() -> date:
    """The portal's today: its dates are Oslo's, so the hour before midnight UTC is tomorrow."""
    return datetime.now(OSLO).date()


@dataclass
class World:
    """The demo area plus one person in every authorisation role for metering point 1."""

    engine: Engine
    mpid: str  #: Ola's first metering point
    meter_id: str
    holder: Actor  #: Ola, contract holder
    act_proxy: Actor  #: active proxy, scope act
    view_proxy: Actor  #: active proxy, scope view
    expired_proxy: Actor
    revoked_proxy: Actor
    stranger: Actor  #: Kari: a customer, but of another metering point
    staff: Actor
    terms_id: int
    proxy_ids: dict[str, int]

    def open_request(self, **changes: object):  # type: ignore[no-untyped-def]
        from hanport.portal.services.intake import OrderRequest

        values: dict[str, object] = {
            "metering_point_id": self.mpid,
            "action": "open",
            "terms_version_id": self.terms_id,
            "declaration": "inside_home",
            "module_option": "have",
            "terms_accepted": True,
        }
        values.update(changes)
        return OrderRequest(**values)  # type: ignore[arg-type]

    def headend(self) -> InMemoryHeadEnd:
        return InMemoryHeadEnd(ports={m.meter_id: "closed" for m in DEMO_METERS})

    def mails(self, to: str | None = None) -> list[tuple[str, str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
        return [(r.to_addr, r.subject, r.body) for r in rows if to is None or r.to_addr == to]


def make_world(engine: Engine) -> World:
    ids = seed_demo(engine)
    meter = DEMO_METERS[0]
    holder = Actor(ids["ola@example.no"], Role.CUSTOMER, "Ola Nordmann")
    later = (oslo_today() + timedelta(days=200)).isoformat()

    def proxy(email: str, name: str, scope: str) -> tuple[Actor, int]:
        proxy_id = invite_proxy(
            engine,
            holder,
            meter.metering_point_id,
            agent_email=email,
            agent_name=name,
            scope=scope,
            valid_to=later,
        )
        with engine.connect() as conn:
            agent_id = conn.execute(
                select(proxies.c.agent_id).where(proxies.c.id == proxy_id)
            ).scalar_one()
        return Actor(agent_id, Role.CUSTOMER, name), proxy_id

    act, act_id = proxy("agent@provider.example", "Agent Act", "act")
    view, view_id = proxy("viewer@example.no", "Viewer", "view")
    expired, expired_id = proxy("old@example.no", "Expired Agent", "act")
    revoked, revoked_id = proxy("gone@example.no", "Revoked Agent", "act")
    with engine.begin() as conn:
        # expiry is mandatory and checked by date: move this one's end into the past
        conn.execute(
            update(proxies)
            .where(proxies.c.id == expired_id)
            .values(
                valid_from=oslo_today() - timedelta(days=30),
                valid_to=oslo_today() - timedelta(days=1),
            )
        )
        conn.execute(
            update(proxies)
            .where(proxies.c.id == revoked_id)
            .values(revoked_at=utcnow(), revoked_by=holder.label, revoke_reason="revoked")
        )
        terms_id = conn.execute(select(terms_versions.c.id)).scalar_one()
    return World(
        engine=engine,
        mpid=meter.metering_point_id,
        meter_id=meter.meter_id,
        holder=holder,
        act_proxy=act,
        view_proxy=view,
        expired_proxy=expired,
        revoked_proxy=revoked,
        stranger=Actor(ids["kari@example.no"], Role.CUSTOMER, "Kari Nordmann"),
        staff=Actor(ids[STAFF_EMAIL], Role.STAFF, "Kundeservice"),
        terms_id=terms_id,
        proxy_ids={"act": act_id, "view": view_id, "expired": expired_id, "revoked": revoked_id},
    )


def code_from(body: str) -> str:
    """The one-time code in a sign-in mail's body (never in its subject)."""
    found = re.search(r"\b(\d{6})\b", body)
    assert found, body
    return found.group(1)


def api_open_body(client: TestClient) -> dict[str, Any]:
    """An API order to open the port under the current terms, accepted, in bokmål."""
    terms = client.get("/api/v1/terms/current").json()
    return {
        "action": "open",
        "terms_version_id": terms["id"],
        "terms_accepted": True,
        "declaration": "inside_home",
        "module_option": "have",
        "terms_lang": "nb",
    }
