"""Every failure as one answer: the API's JSON error body, or the error page.

The API answers every failure — the services' PortalErrors, FastAPI's validation errors,
unknown routes and methods, bodies too large or impossible to parse, and crashes — with

    {"error": {"code": "<stable code>", "message": "<text>", "fields": {"<field>": "<text>"}}}

in the language of Accept-Language (bokmål unless nynorsk or English is preferred). `fields` is
empty unless the code is invalid_input. Pages show the same message on the error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from hanport.i18n import N_
from hanport.portal.services.errors import (
    InvalidInput,
    NotFound,
    PortalError,
    Text,
    at_most,
    text,
)
from hanport.portal.web.common import NotSignedIn, lang_of, render

__all__ = [
    "EXCEPTION_HANDLERS",
    "HTTP_FAILURES",
    "OTHER_HTTP_FAILURE",
    "api_language",
    "error_body",
    "invalid_input",
]

log = logging.getLogger(__name__)


class _HttpFailure(PortalError):
    """A failure found before our handlers ran (routing, body) or a crash: its status is its
    own, its code one of HTTP_FAILURES or OTHER_HTTP_FAILURE."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.http_status = status


#: HTTP statuses from routing, body reading and crashes, as our codes and messages (with the
#: services' codes, the codes of docs/CONTRACTS.md §5)
HTTP_FAILURES: dict[int, tuple[str, str]] = {
    400: ("invalid_body", N_("The request body could not be read")),
    404: ("not_found", N_("Not found")),
    405: ("method_not_allowed", N_("Method not allowed here")),
    413: ("body_too_large", N_("The request body is too large")),
    500: ("internal_error", N_("Something went wrong on our side")),
}
#: any other status Starlette or FastAPI refuses a request with, under its own status (none
#: is known with this app and these versions: the fallback keeps the one error shape)
OTHER_HTTP_FAILURE = ("http_error", N_("The request was refused"))


def api_language(request: Request) -> str:
    """The API's language from Accept-Language (bokmål unless nynorsk or English is preferred)."""
    choices = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        try:
            weight = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            weight = 0.0
        choices.append((-weight, tag.strip().lower()))
    for _, tag in sorted(choices):
        if tag.startswith("nn"):
            return "nn"
        if tag.startswith(("nb", "no")):
            return "nb"
        if tag.startswith("en"):
            return "en"
    return "nb"


def error_body(exc: PortalError, lang: str) -> dict[str, Any]:
    fields = exc.field_texts(lang) if isinstance(exc, InvalidInput) else {}
    return {"error": {"code": exc.code, "message": exc.text(lang), "fields": fields}}


def _status(exc: PortalError) -> int:
    return exc.http_status if isinstance(exc, _HttpFailure) else exc.status


def _answer(request: Request, exc: PortalError) -> Response:
    if request.url.path.startswith("/api/"):
        lang = api_language(request)
        return JSONResponse(error_body(exc, lang), status_code=_status(exc))
    status = _status(exc)
    return render(request, "error.html", status, status=status, message=exc.text(lang_of(request)))


def _field_error(error: dict[str, Any]) -> Text | str:
    kind = str(error.get("type", ""))
    expected = str((error.get("ctx") or {}).get("expected", ""))
    if kind == "explained":  # web.api.explained: the service's own words, a catalog msgid
        return str(error.get("msg", ""))
    if kind == "missing":
        return N_("The field is missing")
    if kind in ("literal_error", "enum"):
        allowed = expected.replace(" or ", ", ")
        return text(N_("Invalid value; allowed: {allowed}"), allowed=allowed)
    if kind.startswith("int"):
        return N_("Give a whole number")
    if kind.startswith("bool"):
        return N_("Give true or false")
    if kind == "string_too_long":
        return at_most(int((error.get("ctx") or {}).get("max_length", 0)))
    if kind == "json_invalid":
        return N_("Invalid JSON")
    return N_("Invalid value")


def invalid_input(exc: RequestValidationError) -> InvalidInput:
    """FastAPI's validation errors as our InvalidInput, keyed by the request's field names."""
    fields: dict[str, Text | str] = {}
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        name = ".".join(location) or "body"
        fields.setdefault(name, _field_error(dict(error)))
    return InvalidInput(fields)


async def _portal_error(request: Request, exc: PortalError) -> Response:
    return _answer(request, exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    # the API's bodies are checked by FastAPI before our code runs: answer like our own
    # field errors (the API's field names), not FastAPI's default
    return _answer(request, invalid_input(exc))


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404 and not request.url.path.startswith("/api/"):
        return _answer(request, NotFound(N_("No such page")))
    code, message = HTTP_FAILURES.get(exc.status_code, OTHER_HTTP_FAILURE)
    return _answer(request, _HttpFailure(exc.status_code, code, message))


async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
    return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)


async def _crash(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(request, _HttpFailure(500, *HTTP_FAILURES[500]))


Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]

#: for FastAPI(exception_handlers=…)
EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    NotSignedIn: _not_signed_in,
    PortalError: _portal_error,
    RequestValidationError: _validation_error,
    HTTPException: _http_error,
    Exception: _crash,
}
