"""What every API router shares: the failures in the OpenAPI, the request body's base class,
the key's actor and the metering point in a path. Imports no router (like ``web.common``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from hanport.i18n import N_
from hanport.portal.domain.gsrn import NORWEGIAN_PREFIX, InvalidMeteringPointId, validate_gsrn
from hanport.portal.domain.limits import CONTROL_CHARACTERS, TEXT_PATTERN, has_control_characters
from hanport.portal.domain.model import Actor
from hanport.portal.services.api_keys import KeyUse, actor_for_key
from hanport.portal.services.errors import NotFound, Unauthenticated
from hanport.portal.web.common import config_of

__all__ = ["API_ERRORS", "ApiBody", "CurrentActor", "MeteringPointId", "explained"]

#: the API's answers for failures, in its OpenAPI description: "(code …)" names codes of
#: docs/CONTRACTS.md §5 with that status (tests/portal/test_error_codes.py checks them)
API_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not JSON a parser should read (code invalid_body)"},
    401: {
        "description": "no usable API key "
        "(code key_missing, key_unknown, key_expired or key_revoked)"
    },
    403: {
        "description": "not holder or proxy (act), a view key asked to change something, or "
        "not for this caller (code not_authorised, key_view_only, act_for_customer_first, "
        "staff_only, system_order or not_a_provider)"
    },
    404: {"description": "no such object (code not_found)"},
    409: {
        "description": "the current state does not allow it "
        "(code terms_changed, already_open, order_in_progress, …)"
    },
    413: {"description": "request body too large (code body_too_large)"},
    422: {"description": "invalid field (code invalid_input; fields name each one)"},
}


def explained(message: str) -> PydanticCustomError:
    """A body field's refusal in the service's words (a catalog msgid, no placeholders): the
    error body's `fields` gives it translated (web.errors), not a generic "Invalid value"."""
    return PydanticCustomError("explained", message)


def _plain_text_schema(schema: dict[str, Any]) -> None:
    """Every free text field (a string without its own pattern, enum or format) declares
    TEXT_PATTERN in the OpenAPI: no control characters, as ApiBody checks."""
    for prop in schema.get("properties", {}).values():
        for part in (prop, *prop.get("anyOf", ())):
            own = {"pattern", "enum", "format", "const"} & part.keys()
            if part.get("type") == "string" and not own:
                part["pattern"] = TEXT_PATTERN


class ApiBody(BaseModel):
    """An API request body: no field takes a control character (NUL, …; domain.limits), the
    one check for every body, before any service or database sees it."""

    model_config = ConfigDict(json_schema_extra=_plain_text_schema)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        if isinstance(value, str) and has_control_characters(value):
            raise explained(CONTROL_CHARACTERS)
        return value


async def authenticate(
    request: Request,
    authorization: Annotated[str, Header(description="Bearer <API key>")] = "",
) -> Actor:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(N_("Missing API key (Authorization: Bearer)"), code="key_missing")
    # expiry, revocation, scope and last use are checked with the key (services.api_keys); a
    # view key asking to change anything is refused there (403, audited): every write
    # endpoint is covered, including ones added later
    use = KeyUse(token.strip(), request.method, request.url.path)
    return await run_in_threadpool(actor_for_key, config_of(request).engine, use)


CurrentActor = Annotated[Actor, Depends(authenticate)]


def _metering_point_id(
    mpid: Annotated[
        str,
        Path(
            pattern=rf"^{NORWEGIAN_PREFIX}[0-9]{{9}}$",
            description="the metering point's 18-digit GSRN",
        ),
    ],
) -> str:
    # a GSRN with a wrong check digit names no metering point: not found, like an unknown one
    try:
        return validate_gsrn(mpid)
    except InvalidMeteringPointId as exc:
        raise NotFound() from exc


MeteringPointId = Annotated[str, Depends(_metering_point_id)]
