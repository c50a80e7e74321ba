"""Errors of the port service. Every message exists in bokmål and English.

PortalError
 ├── Refused        not allowed (audited); HTTP 403
 ├── NotFound       HTTP 404
 ├── Conflict       valid request that the current state does not allow; HTTP 409
 ├── InvalidInput   one message per form field; HTTP 422
 └── RateLimited    too many attempts; HTTP 429
"""

from __future__ import annotations

__all__ = ["Conflict", "InvalidInput", "NotFound", "PortalError", "RateLimited", "Refused"]


class PortalError(Exception):
    status = 400

    def __init__(self, nb: str, en: str) -> None:
        super().__init__(en)
        self.nb = nb
        self.en = en

    def text(self, lang: str) -> str:
        return self.nb if lang == "nb" else self.en


class Refused(PortalError):
    status = 403

    def __init__(self, reason: str, nb: str | None = None, en: str | None = None) -> None:
        super().__init__(
            nb
            or "Du har ikke tilgang til dette målepunktet. Bare kontraktseier eller en med "
            "gyldig fullmakt kan gjøre dette.",
            en
            or "You do not have access to this metering point. Only the contract holder or "
            "someone with a valid power of attorney can do this.",
        )
        self.reason = reason


class NotFound(PortalError):
    status = 404

    def __init__(self, what_nb: str = "Fant ikke", what_en: str = "Not found") -> None:
        super().__init__(what_nb, what_en)


class Conflict(PortalError):
    status = 409


class RateLimited(PortalError):
    status = 429


class InvalidInput(PortalError):
    """Field errors: {field: (nb, en)}."""

    status = 422

    def __init__(self, fields: dict[str, tuple[str, str]]) -> None:
        super().__init__(
            "Skjemaet har feil: " + "; ".join(nb for nb, _ in fields.values()),
            "The form has errors: " + "; ".join(en for _, en in fields.values()),
        )
        self.fields = fields

    def field_texts(self, lang: str) -> dict[str, str]:
        return {name: (nb if lang == "nb" else en) for name, (nb, en) in self.fields.items()}
