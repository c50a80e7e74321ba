"""Errors of the port service. Each has a stable machine-readable `code` (clients match on it,
never on the text) and a message: an English text from the "portal" message catalogs with the
values it was built from (`params`), so `text(lang)` gives it in bokmål, nynorsk or English.

PortalError                 code (default)       HTTP
 ├── Refused                not_authorised       403  not allowed (audited); `reason` says why
 ├── Unauthenticated        (none)               401  no valid API key (key_missing, key_unknown, …)
 ├── NotFound               not_found            404
 ├── Conflict               (none)               409  valid, but the current state does not allow it
 ├── InvalidInput           invalid_input        422  one message per form field
 └── RateLimited            rate_limited         429  too many attempts

A raise site names a more precise code where a client can act on it (terms_changed,
already_open, order_in_progress, …); where the class has no default it must name one. The
codes are those raise sites and defaults, plus web.errors' own (HTTP_FAILURES): docs/CONTRACTS.md
§5 lists them all, and tests/portal/test_error_codes.py fails when the two differ. A message is
marked with N_ so `make messages` finds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar

from hanport.i18n import N_, format_date, format_datetime, translations
from hanport.portal.domain.sla import OSLO

__all__ = [
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PortalError",
    "RateLimited",
    "Refused",
    "Text",
    "Unauthenticated",
    "at_most",
    "text",
]


@dataclass(frozen=True)
class Text:
    """A message: its English text (a catalog msgid, `{name}` placeholders) and their values."""

    message: str
    params: Mapping[str, object] = field(default_factory=dict)

    def in_lang(self, lang: str) -> str:
        """The message in `lang`, dates written the way people there write them."""
        values = {name: _written(value, lang) for name, value in self.params.items()}
        return translations("portal", lang).gettext(self.message).format(**values)


def _written(value: object, lang: str) -> object:
    if isinstance(value, datetime):
        return format_datetime(value.astimezone(OSLO), lang)
    if isinstance(value, date):
        return format_date(value, lang)
    return value


def text(message: str, /, **params: object) -> Text:
    """A field's message with values: `text(N_("At most {n} characters"), n=100)`."""
    return Text(message, params)


def at_most(limit: int) -> Text:
    """The message for a text over its field's limit: the limit is in it."""
    return text(N_("At most {limit} characters"), limit=limit)


class PortalError(Exception):
    status: ClassVar[int] = 400
    #: the code when the raise site names none; None: every raise site names its own
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, /, *, code: str | None = None, **params: object) -> None:
        chosen = code or self.default_code
        if chosen is None:
            raise TypeError(f"{type(self).__name__} needs a code (docs/CONTRACTS.md §5)")
        self.message = Text(message, params)
        self.code: str = chosen
        self.params = params
        super().__init__(self.text("en"))

    def text(self, lang: str) -> str:
        """The message in `lang` (nb, nn or en; nynorsk falls back to bokmål)."""
        return self.message.in_lang(lang)

    @property
    def nb(self) -> str:
        return self.text("nb")

    @property
    def en(self) -> str:
        return self.text("en")


class Refused(PortalError):
    status = 403
    default_code = "not_authorised"

    def __init__(
        self,
        reason: str,
        message: str = N_(
            "You do not have access to this metering point. Only the contract holder or "
            "someone with a valid power of attorney can do this."
        ),
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.reason = reason


class Unauthenticated(PortalError):
    """The API call carries no valid key: the code says why (key_missing, key_unknown,
    key_revoked, key_expired)."""

    status = 401


class NotFound(PortalError):
    status = 404
    default_code = "not_found"

    def __init__(self, message: str = N_("Not found"), /, **params: object) -> None:
        super().__init__(message, code=None, **params)


class Conflict(PortalError):
    """The current state does not allow it: the code says which state (terms_changed, …)."""

    status = 409


class RateLimited(PortalError):
    status = 429
    default_code = "rate_limited"


class InvalidInput(PortalError):
    """Field errors: {field: message}, a message an English text or a Text with values."""

    status = 422
    default_code = "invalid_input"

    def __init__(self, fields: Mapping[str, Text | str]) -> None:
        self.fields = {
            name: message if isinstance(message, Text) else Text(message)
            for name, message in fields.items()
        }
        super().__init__(N_("The form has errors: {errors}"))

    def text(self, lang: str) -> str:
        # one message once, however many fields it is about
        errors = "; ".join(dict.fromkeys(m.in_lang(lang) for m in self.fields.values()))
        return translations("portal", lang).gettext(self.message.message).format(errors=errors)

    def field_texts(self, lang: str) -> dict[str, str]:
        return {name: message.in_lang(lang) for name, message in self.fields.items()}
