"""The customer's notice of moving in the REST API: read it, give or change it (PUT, idempotent:
the same date again changes nothing), withdraw it (DELETE). Giving and withdrawing need an act
key of the contract holder, of an act proxy, or of customer service (view keys are refused for
every write, services.api_keys). The rules are services.move_notices'."""

from __future__ import annotations

from datetime import date
from functools import partial

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hanport.portal.domain.model import Channel
from hanport.portal.domain.moves import MAX_NOTICE_DAYS, Outcome
from hanport.portal.services.acting import require_acting_for
from hanport.portal.services.move_notices import (
    MoveStatus,
    give_move_notice,
    move_status,
    withdraw_move_notice,
)
from hanport.portal.web.api_common import API_ERRORS, ApiBody, CurrentActor, MeteringPointId
from hanport.portal.web.common import Config

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=API_ERRORS, tags=["moves"])

_PATH = "/metering-points/{mpid}/move-notice"


class MoveNoticeIn(ApiBody):
    move_out_date: str = Field(
        description=f"YYYY-MM-DD: today (Norwegian time) to {MAX_NOTICE_DAYS} days ahead; the "
        "HAN port closes at 00:00 Norwegian time on that day",
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        json_schema_extra={"format": "date"},
    )


class MoveNoticeOut(BaseModel):
    metering_point_id: str
    move_out_date: date | None = Field(description="the customer's notice in force, if any")
    effective_date: date | None = Field(
        description="the day the change of customer is carried out (the port closes at 00:00, "
        "the contract, proxies and pending access requests end): the date of whichever came "
        "last, the customer's notice or the electricity market's change; null: none registered"
    )
    registered_by_market: bool = Field(description="the electricity market registered the move")
    can_change: bool = Field(description="before the day: the notice can be changed or withdrawn")
    outcome: Outcome | None = Field(
        None,
        description="what this request did: registered (first word on this move), confirmed "
        "(the market's date), adjusted (the date moved), unchanged (nothing new)",
    )


def _out(status: MoveStatus, outcome: Outcome | None = None) -> MoveNoticeOut:
    return MoveNoticeOut(
        metering_point_id=status.metering_point_id,
        move_out_date=status.notice_date,
        effective_date=status.effective_date,
        registered_by_market=status.market_date is not None,
        can_change=status.may_change,
        outcome=outcome,
    )


@router.get(_PATH, response_model=MoveNoticeOut)
def get_move_notice(mpid: MeteringPointId, actor: CurrentActor, config: Config) -> MoveNoticeOut:
    """The move registered for the point (by the customer's notice or the market), if any."""
    return _out(move_status(config.engine, actor, mpid))


@router.put(
    _PATH,
    response_model=MoveNoticeOut,
    responses={201: {"description": "the notice was given now (the first word on this move)"}},
)
async def put_move_notice(
    mpid: MeteringPointId,
    body: MoveNoticeIn,
    actor: CurrentActor,
    config: Config,
    response: Response,
) -> MoveNoticeOut:
    """Give the notice of moving out, or change its date (200; 201 when it is the first word on
    this move). The same date again changes nothing. The customer and every holder of their
    powers of attorney are mailed; a change of customer the market registered first is
    confirmed or adjusted to this date."""
    # a staff key is no way round the "act for the customer" step (refused, audited)
    await run_in_threadpool(partial(require_acting_for, config.engine, actor, mpid=mpid))
    given = partial(give_move_notice, channel=Channel.API.value)
    result = await run_in_threadpool(given, config.engine, actor, mpid, body.move_out_date)
    if result.outcome is Outcome.REGISTERED:
        response.status_code = 201
    return _out(await run_in_threadpool(move_status, config.engine, actor, mpid), result.outcome)


@router.delete(_PATH, response_model=MoveNoticeOut)
async def delete_move_notice(
    mpid: MeteringPointId, actor: CurrentActor, config: Config
) -> MoveNoticeOut:
    """Withdraw the notice before its day (a change the market registered stays, on the
    market's date); without a notice in force nothing changes (outcome unchanged)."""
    await run_in_threadpool(partial(require_acting_for, config.engine, actor, mpid=mpid))
    result = await run_in_threadpool(withdraw_move_notice, config.engine, actor, mpid)
    status = await run_in_threadpool(move_status, config.engine, actor, mpid)
    return _out(status, result.outcome)
