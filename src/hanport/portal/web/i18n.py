"""The portal's pages in the reader's language: templates with gettext bound to one language,
and the words for coded values (order states, port states, …) shown on them.

The texts are in the "portal" message catalogs (src/hanport/portal/locale); this module only
binds them to templates. One Jinja environment per language, so concurrent requests in
different languages never share a translator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache, partial
from gettext import NullTranslations
from pathlib import Path
from typing import Any, Final

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from hanport.i18n import DEFAULT_LANG, LANGS, NC_, format_date, translations
from hanport.portal.domain import limits
from hanport.portal.domain.sla import OSLO
from hanport.portal.web.audit_lines import audit_line
from hanport.portal.web.notes import command_detail, note_text

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "LANGUAGE_NAMES",
    "NAMES",
    "gettext_in",
    "local_time",
    "name_of",
    "templates",
    "terms_language",
]

TEMPLATE_DIR: Final = Path(__file__).parent / "templates"
#: each language named in itself, for the switch
LANGUAGE_NAMES: Final = {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}

#: kind -> code -> (context, English text): the words for coded values, looked up by name_of
NAMES: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "action": {"open": NC_("action", "Open"), "close": NC_("action", "Close")},
    "port": {
        "open": NC_("port state", "Open"),
        "closed": NC_("port state", "Closed"),
        "opening": NC_("port state", "Opening"),
        "closing": NC_("port state", "Closing"),
        "unknown": NC_("port state", "Unknown"),
    },
    "state": {
        "validated": NC_("order state", "Received and checked"),
        "command_sent": NC_("order state", "Command sent to the meter"),
        "retrying": NC_("order state", "The meter did not answer – retrying"),
        "verified": NC_("order state", "Verified from the meter"),
        "completed": NC_("order state", "Completed"),
        "escalated": NC_("order state", "With customer service"),
        "needs_field_work": NC_("order state", "Needs a meter swap"),
        "failed": NC_("order state", "Not completed"),
        "cancelled": NC_("order state", "Cancelled"),
        "superseded": NC_("order state", "Replaced by a newer order"),
    },
    "event": {
        "submitted": NC_("order event", "Order received"),
        "command_ok": NC_("order event", "The meter accepted the command"),
        "no_answer": NC_("order event", "The meter did not answer"),
        "readback_ok": NC_("order event", "State read back from the meter"),
        "readback_mismatch": NC_("order event", "The meter showed the wrong state – sending again"),
        "readback_no_answer": NC_("order event", "The meter did not answer the check"),
        "confirm": NC_("order event", "Done – you have been e-mailed"),
        "confirm_without_push": NC_(
            "order event",
            "Done – the read-back confirmed the port open, but we have not seen data from "
            "the meter yet. You have been e-mailed.",
        ),
        "give_up": NC_("order event", "Handed to customer service"),
        "field_work": NC_("order event", "The meter must be replaced"),
        "cancel": NC_("order event", "Cancelled"),
        "supersede": NC_("order event", "Replaced"),
        "override_retry": NC_("order event", "Customer service retries"),
        "override_complete": NC_("order event", "Completed by customer service"),
        "override_fail": NC_("order event", "Closed by customer service"),
    },
    "declaration": {
        "inside_home": NC_("meter location", "Inside the home"),
        "locked_cabinet": NC_("meter location", "In a lockable cabinet"),
        "locked_room": NC_("meter location", "In a lockable room"),
        "shared_locked_room": NC_("meter location", "In a locked shared meter room"),
    },
    "module": {
        "have": NC_("HAN module", "I already have a HAN module"),
        "post": NC_("HAN module", "Send the module by post"),
        "pickup": NC_("HAN module", "I will pick up the module"),
    },
    "shipment": {
        "requested": NC_("shipment", "ordered"),
        "shipped": NC_("shipment", "shipped"),
        "delivered": NC_("shipment", "delivered"),
        "ready": NC_("shipment", "ready for pick-up"),
        "picked_up": NC_("shipment", "picked up"),
    },
    "channel": {
        "portal": NC_("order channel", "portal"),
        "api": NC_("order channel", "API"),
        "backoffice": NC_("order channel", "customer service"),
        "system": NC_("order channel", "the port service"),
    },
    "scope": {
        "view": NC_("proxy scope", "View (see status)"),
        "act": NC_("proxy scope", "Act (open/close)"),
    },
    "role": {
        "holder": NC_("role", "Contract holder"),
        "proxy-view": NC_("role", "Proxy: view"),
        "proxy-act": NC_("role", "Proxy: act"),
    },
    # who announced a move (services.moves.pending_moves)
    "move_source": {
        "notice": NC_("move source", "The customer's notice"),
        "market": NC_("move source", "The electricity market"),
        "market+notice": NC_("move source", "The customer and the market"),
    },
    # why an order was handed to customer service (orders.failure_cause)
    "failure_cause": {
        "meter_no_answer": NC_("failure cause", "The meter did not answer"),
        "readback_mismatch": NC_("failure cause", "The meter did not confirm the change"),
        "headend_error": NC_("failure cause", "The head-end system reported an error"),
        "meter_not_han_capable": NC_("failure cause", "The meter has no HAN port to open"),
        "meter_unknown_in_headend": NC_(
            "failure cause", "The head-end system does not know the meter"
        ),
        "override": NC_("failure cause", "Closed by customer service"),
    },
    # how a person was allowed or refused (services.authz reasons, proxies' end reasons)
    "access": {
        "holder": NC_("access", "contract holder"),
        "proxy": NC_("access", "proxy"),
        "staff": NC_("access", "customer service"),
        "not_allowed": NC_("access", "not allowed"),
        "staff_only": NC_("access", "for customer service only"),
        "not_holder": NC_("access", "not the contract holder"),
        "holder_only": NC_("access", "for the contract holder only"),
        "proxy_view_only": NC_("access", "the power of attorney is for viewing only"),
        "proxy_revoked": NC_("access", "the power of attorney was revoked"),
        "proxy_expired": NC_("access", "the power of attorney has expired"),
        "proxy_not_yet_valid": NC_("access", "the power of attorney is not valid yet"),
        "proxy_contract_ended": NC_("access", "the principal's contract has ended"),
        "replaced": NC_("access", "replaced by a new one"),
        "moved_out": NC_("access", "the customer moved out"),
    },
    # who did it, when not a person (timeline and audit actors)
    "actor": {"system": NC_("actor", "the system (job runner)")},
    # what was sent to the head-end system (headend_commands.op)
    "command": {
        "set_open": NC_("head-end command", "Open the port"),
        "set_closed": NC_("head-end command", "Close the port"),
        "read_port": NC_("head-end command", "Read the port state"),
    },
    "terms_status": {
        "current": NC_("terms status", "current"),
        "scheduled": NC_("terms status", "scheduled"),
        "superseded": NC_("terms status", "superseded"),
    },
    # the language a customer read the terms in, as in "shown in …"
    "terms_shown": {
        "nb": NC_("terms language", "Norwegian"),
        "nn": NC_("terms language", "Norwegian Nynorsk"),
        "en": NC_("terms language", "English"),
        "unknown": NC_("terms language", "an unrecorded language"),
    },
}


def name_of(catalog: NullTranslations, kind: str, code: str | None) -> str:
    """The word for a coded value in the catalog's language; an unknown code as it is."""
    entry = NAMES[kind].get(code or "")
    return catalog.pgettext(*entry) if entry else (code or "")


def local_time(value: datetime | None) -> str:
    """A stored time as Norwegian local time, the way every page shows it."""
    return "" if value is None else value.astimezone(OSLO).strftime("%d.%m.%Y %H:%M:%S")


def gettext_in(lang: str) -> Callable[..., str]:
    """A template's `_` for another language than the page's (the back office previews what
    customers see in each language): same call, newstyle placeholders."""
    catalog = translations("portal", lang)

    def translate(message: str, **fields: Any) -> str:
        return catalog.gettext(message) % fields

    return translate


def terms_language(lang: str) -> str:
    """The language of the terms text a page in `lang` shows: English, nynorsk (recorded as
    bokmål by the order when the version has no nynorsk text) or bokmål."""
    return lang if lang in ("en", "nn") else DEFAULT_LANG


@cache
def templates(lang: str) -> Jinja2Templates:
    """The page templates with gettext, `name_of` and the `local` filter bound to `lang`."""
    catalog = translations("portal", lang)
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    env.policies["ext.i18n.trimmed"] = True  # as babel-portal.cfg extracts them
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.globals["name_of"] = partial(name_of, catalog)
    env.globals["gettext_in"] = gettext_in
    env.globals["languages"] = LANGUAGE_NAMES
    env.globals["audit_line"] = partial(audit_line, catalog, NAMES)
    env.globals["note_text"] = partial(note_text, catalog, NAMES)
    env.globals["command_detail"] = partial(command_detail, catalog, NAMES)
    # the fields' maxlength, as the services check them
    env.globals["limits"] = {k: v for k, v in vars(limits).items() if k.endswith("_MAX")}
    env.filters["local"] = local_time
    env.filters["day"] = partial(format_date, lang=lang)  # a date: 04.12.2026, 4 December 2026
    return Jinja2Templates(env=env)
