"""Errors of the port service. Each has a stable machine-readable `code` (clients match on it,
never on the text) and a message in bokmål and English (`text(lang)`).

PortalError                 code (default)       HTTP
 ├── Refused                not_authorised       403  not allowed (audited); `reason` says why
 ├── Unauthenticated        not_authenticated    401  no valid API key
 ├── NotFound               not_found            404
 ├── Conflict               conflict             409  valid, but the current state does not allow it
 ├── InvalidInput           invalid_input        422  one message per form field
 └── RateLimited            rate_limited         429  too many attempts

A raise site names a more precise code where a client can act on it (terms_changed,
already_open, order_in_progress, …); docs/CONTRACTS.md lists them all. `params` carries the
values a message was built from, so catalogs can build it again in any language.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PortalError",
    "RateLimited",
    "Refused",
    "Unauthenticated",
]


class PortalError(Exception):
    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, nb: str, en: str, *, code: str | None = None, **params: object) -> None:
        super().__init__(en)
        self.nb = nb
        self.en = en
        self.code = code or self.default_code
        self.params = params

    def text(self, lang: str) -> str:
        """The message in `lang`; bokmål for any language without its own text."""
        return self.en if lang == "en" else self.nb


class Refused(PortalError):
    status = 403
    default_code = "not_authorised"

    def __init__(
        self, reason: str, nb: str | None = None, en: str | None = None, *, code: str | None = None
    ) -> None:
        super().__init__(
            nb
            or "Du har ikke tilgang til dette målepunktet. Bare kontraktseier eller en med "
            "gyldig fullmakt kan gjøre dette.",
            en
            or "You do not have access to this metering point. Only the contract holder or "
            "someone with a valid power of attorney can do this.",
            code=code,
        )
        self.reason = reason


class Unauthenticated(PortalError):
    """The API call carries no valid key (missing, unknown, revoked or expired)."""

    status = 401
    default_code = "not_authenticated"


class NotFound(PortalError):
    status = 404
    default_code = "not_found"

    def __init__(self, what_nb: str = "Fant ikke", what_en: str = "Not found") -> None:
        super().__init__(what_nb, what_en)


class Conflict(PortalError):
    status = 409
    default_code = "conflict"


class RateLimited(PortalError):
    status = 429
    default_code = "rate_limited"


class InvalidInput(PortalError):
    """Field errors: {field: (nb, en)}."""

    status = 422
    default_code = "invalid_input"

    def __init__(self, fields: dict[str, tuple[str, str]]) -> None:
        super().__init__(
            "Skjemaet har feil: " + "; ".join(nb for nb, _ in fields.values()),
            "The form has errors: " + "; ".join(en for _, en in fields.values()),
        )
        self.fields = fields

    def field_texts(self, lang: str) -> dict[str, str]:
        return {name: (en if lang == "en" else nb) for name, (nb, en) in self.fields.items()}
