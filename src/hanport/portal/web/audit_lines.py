"""The audit log as customer service reads it: one line per entry in the page's language.

The stored entry (action, JSON data) stays the record; this only names it. An action without a
name here is shown as it is stored, so a new action is never hidden.
"""

from __future__ import annotations

import json
from gettext import NullTranslations
from typing import Any

from hanport.i18n import NC_
from hanport.portal.domain.notes import cause_of_error

__all__ = ["ACTIONS", "audit_line"]

#: the audit log's actions (services.*: tx.audit) as words; order.<event> uses the event's name
ACTIONS: dict[str, tuple[str, str]] = {
    "access_request.approved": NC_("audit", "Access request approved by the customer"),
    "access_request.create": NC_("audit", "Access request from a provider"),
    "access_request.created": NC_("audit", "Access request received from a provider"),
    "access_request.declined": NC_("audit", "Access request declined by the customer"),
    "access_request.ended": NC_("audit", "Access request ended (the customer moved)"),
    "access_request.expired": NC_("audit", "Access request expired without an answer"),
    "access_request.withdrawn": NC_("audit", "Access request withdrawn by the provider"),
    "acting.started": NC_("audit", "Customer service began acting for the customer"),
    "acting.stopped": NC_("audit", "Customer service stopped acting for the customer"),
    "api_token.created": NC_("audit", "API key created"),
    "api_token.revoked": NC_("audit", "API key revoked"),
    "api_token.use": NC_("audit", "API key used"),
    "case.viewed": NC_("audit", "Case viewed by customer service"),
    "customer_action": NC_("audit", "Customer action by customer service"),
    "customer_change.applied": NC_("audit", "Change of customer carried out"),
    "customer_change.invited": NC_("audit", "New customer invited to order the HAN port"),
    "customer_change.port_closed": NC_("audit", "HAN port closed after the change of customer"),
    "customer_change.reconciled": NC_(
        "audit", "Change of customer reconciled with the customer's notice"
    ),
    "customer_change.register": NC_("audit", "Change of customer registered"),
    "customer_change.registered": NC_("audit", "Change of customer registered"),
    "headend.read_port": NC_("audit", "Port state read from the meter"),
    "headend.set_port": NC_("audit", "Command sent to the meter"),
    "move_notice.changed": NC_("audit", "Moving date changed"),
    "move_notice.give": NC_("audit", "Notice of moving"),
    "move_notice.given": NC_("audit", "Notice of moving given"),
    "move_notice.withdraw": NC_("audit", "Withdrawal of the notice of moving"),
    "move_notice.withdrawn": NC_("audit", "Notice of moving withdrawn"),
    "order.cancel": NC_("audit", "Order cancelled"),
    "order.override": NC_("audit", "Override by customer service"),
    "order.push_seen": NC_("audit", "Data seen from the meter"),
    "order.push_watch_ended": NC_("audit", "Stopped watching for data from the meter"),
    "order.submit": NC_("audit", "Order"),
    "order.submitted": NC_("audit", "Order received"),
    "order.view": NC_("audit", "Order viewed"),
    "point.view": NC_("audit", "Metering point viewed"),
    "provider.registered": NC_("audit", "Service provider registered"),
    "proxy.created": NC_("audit", "Power of attorney given"),
    "proxy.ended": NC_("audit", "Power of attorney ended"),
    "proxy.invite": NC_("audit", "Power of attorney"),
    "proxy.revoke": NC_("audit", "Power of attorney revoked"),
    "seed.demo": NC_("audit", "Demo data created"),
    "session.ended": NC_("audit", "Signed out"),
    "session.ended_by_provider": NC_("audit", "Signed out by the sign-in service"),
    "session.ended_everywhere": NC_("audit", "Signed out on every device"),
    "session.logout_token_refused": NC_(
        "audit", "Sign-out message from the sign-in service refused"
    ),
    "session.started": NC_("audit", "Session started"),
    "shipment.requested": NC_("audit", "HAN module requested"),
    "shipment.updated": NC_("audit", "HAN module shipment updated"),
    "signin.code": NC_("audit", "One-time code for sign-in"),
    "signin.code_requested": NC_("audit", "One-time code for sign-in sent"),
    "signin.oidc": NC_("audit", "Sign-in through the sign-in service"),
    "signin.ok": NC_("audit", "Signed in"),
    "signin.wrong_code": NC_("audit", "Wrong one-time code entered"),
    "staff.account_created": NC_("audit", "Staff account created"),
    "terms.publish": NC_("audit", "Terms published"),
    "terms.published": NC_("audit", "Terms published"),
}
_REFUSED = NC_("audit", "Refused: {what}")
#: data values worth a word on the line, in this order, with the names (web.i18n.NAMES) their
#: codes have; the rest is behind the toggle
_SHOWN = {
    "action": "action",
    "channel": "channel",
    "decision": "access",
    "reason": "access",
    "acting_reason": None,
    "method": "module",
    "state": "shipment",
    "scope": "scope",
    "port": "port",
}

Names = dict[str, dict[str, tuple[str, str]]]


def _name(catalog: NullTranslations, action: str, names: Names) -> str:
    if action.endswith(".refused"):
        what = _name(catalog, action.removesuffix(".refused"), names)
        return catalog.pgettext(*_REFUSED).format(what=what)
    entry = ACTIONS.get(action)
    if entry is None and action.startswith("order."):
        entry = names["event"].get(action.removeprefix("order."))
    return catalog.pgettext(*entry) if entry else action


def _value(catalog: NullTranslations, names: Names, kind: str | None, value: object) -> str:
    entry = names[kind].get(str(value)) if kind else None
    return catalog.pgettext(*entry) if entry else str(value)


def audit_line(catalog: NullTranslations, names: Names, action: str, data_json: str) -> str:
    """'Order received (Open, portal, holder)': the action's name and its telling values."""
    try:
        data: Any = json.loads(data_json)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    values = [
        _value(catalog, names, kind, data[key]) for key, kind in _SHOWN.items() if data.get(key)
    ]
    if data.get("ok") is False:  # a head-end command that failed: why, in words
        values.append(
            _value(catalog, names, "failure_cause", cause_of_error(str(data.get("detail", ""))))
        )
    name = _name(catalog, action, names)
    return f"{name} ({', '.join(values)})" if values else name
