"""Provider API: a registered provider asks customers for access and follows its requests.

Authenticated with the provider's organisation API key (web.api.authenticate). Once a customer
approves, the provider is the agent of a proxy and reads the port and orders through the
existing /api/v1/metering-points endpoints, within the granted scope.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import Row

from hanport.portal.domain.access_requests import MAX_REASON_LENGTH, AccessState, Scope
from hanport.portal.domain.gsrn import NORWEGIAN_PREFIX
from hanport.portal.domain.limits import EMAIL_MAX
from hanport.portal.services import access_requests, proxies
from hanport.portal.services.acting import require_acting_for
from hanport.portal.web.api_common import API_ERRORS, ApiBody, CurrentActor
from hanport.portal.web.common import Config, RowId

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=API_ERRORS, tags=["access requests"])

RequestId = RowId
ProxyId = RowId


class AccessRequestIn(ApiBody):
    metering_point_id: str = Field(pattern=rf"^{NORWEGIAN_PREFIX}[0-9]{{9}}$")
    customer_email: str = Field(
        max_length=EMAIL_MAX,
        # ASCII only: schema generators and the validator must agree on what "\s" means
        pattern=r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        description="the e-mail address the customer signs in with",
    )
    scope: Scope
    valid_from: date
    valid_to: date = Field(description="the last day; at most two years after valid_from")
    reason: str = Field(
        min_length=1, max_length=MAX_REASON_LENGTH, description="shown to the customer"
    )


class AccessRequestOut(BaseModel):
    id: int
    metering_point_id: str
    scope: Scope
    valid_from: date
    valid_to: date
    reason: str
    state: AccessState
    created_at: datetime
    answered_at: datetime | None
    granted_scope: Scope | None
    granted_to: date | None


def _out(row: Row[Any]) -> AccessRequestOut:
    return AccessRequestOut(**{name: getattr(row, name) for name in AccessRequestOut.model_fields})


def _one(config: Config, actor: CurrentActor, request_id: int) -> AccessRequestOut:
    rows = access_requests.provider_requests(config.engine, actor)
    return next(_out(r) for r in rows if r.id == request_id)


@router.post("/access-requests", response_model=AccessRequestOut, status_code=201)
def create_access_request(
    body: AccessRequestIn, actor: CurrentActor, config: Config
) -> AccessRequestOut:
    """Ask the customer for access to the metering point (201); the customer is told."""
    request_id = access_requests.create_request(
        config.engine,
        actor,
        body.metering_point_id,
        body.customer_email,
        str(body.scope),
        body.valid_from,
        body.valid_to,
        body.reason,
        expire_after=config.access_request_expire_after,
    )
    return _one(config, actor, request_id)


@router.get("/access-requests", response_model=list[AccessRequestOut])
def list_access_requests(actor: CurrentActor, config: Config) -> list[AccessRequestOut]:
    """The provider's requests, newest first."""
    return [_out(row) for row in access_requests.provider_requests(config.engine, actor)]


@router.post("/access-requests/{request_id}/withdraw", response_model=AccessRequestOut)
def withdraw_access_request(
    request_id: RequestId, actor: CurrentActor, config: Config
) -> AccessRequestOut:
    """Take back a pending request (409 when already answered)."""
    access_requests.withdraw_request(config.engine, actor, request_id)
    return _one(config, actor, request_id)


class ProxyOut(BaseModel):
    """A power of attorney in force: the agent may act (`act`) or only read (`view`) for the
    metering point until valid_to (inclusive)."""

    id: int
    metering_point_id: str
    scope: Scope
    valid_from: date
    valid_to: date
    agent_name: str
    agent_email: str


def _proxy_out(row: Row[Any]) -> ProxyOut:
    return ProxyOut(**{name: getattr(row, name) for name in ProxyOut.model_fields})


@router.get("/powers-of-attorney", response_model=list[ProxyOut], tags=["powers of attorney"])
def list_powers_of_attorney(actor: CurrentActor, config: Config) -> list[ProxyOut]:
    """The powers of attorney the caller holds today (a provider: those customers approved)."""
    rows = proxies.live_proxies(config.engine, actor, held=True)
    return [_proxy_out(row) for row in rows]


@router.get("/proxies", response_model=list[ProxyOut], tags=["powers of attorney"])
def list_given_proxies(actor: CurrentActor, config: Config) -> list[ProxyOut]:
    """The powers of attorney the caller (a customer's own key) has given, in force today."""
    rows = proxies.live_proxies(config.engine, actor, held=False)
    return [_proxy_out(row) for row in rows]


@router.post(
    "/proxies/{proxy_id}/revoke",
    status_code=204,
    response_class=Response,
    tags=["powers of attorney"],
)
def revoke_given_proxy(proxy_id: ProxyId, actor: CurrentActor, config: Config) -> Response:
    """Revoke a power of attorney the caller gave (204; an act key only; 403 for another's).
    The agent is told by mail; revoking one already ended changes nothing."""
    require_acting_for(config.engine, actor, proxy_id=proxy_id)  # staff keys: refused
    proxies.revoke_proxy(config.engine, actor, proxy_id)
    return Response(status_code=204)
