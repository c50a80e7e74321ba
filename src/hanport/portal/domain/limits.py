"""The longest text each field of the port service takes, in characters.

Forms (maxlength), the API (OpenAPI maxLength) and the services' checks all read these, so a
limit is named once and every refusal can say it. The widths follow the database columns.
"""

from __future__ import annotations

import re

from hanport.i18n import N_

__all__ = [
    "CITY_MAX",
    "CONTROL_CHARACTERS",
    "EMAIL_MAX",
    "NAME_MAX",
    "REASON_MAX",
    "ROW_ID_MAX",
    "SEARCH_MAX",
    "STREET_MAX",
    "TEXT_PATTERN",
    "TRACKING_REF_MAX",
    "has_control_characters",
    "too_long",
]

EMAIL_MAX = 254  #: RFC 5321's longest address; parties.email
NAME_MAX = 200  #: a person's or a company's name; parties.display_name
REASON_MAX = 1000  #: customer service's reason for an override
#: the largest row number (orders, proxies, requests, keys): PostgreSQL's integer
ROW_ID_MAX = 2**31 - 1
TRACKING_REF_MAX = 64  #: a parcel's tracking reference; shipments.tracking_ref
SEARCH_MAX = 100  #: the back office's search box
STREET_MAX = 200  #: a street address; metering_points.street, shipments.address_street
CITY_MAX = 100  #: a postal town; metering_points.city, shipments.address_city


def too_long(value: str, limit: int) -> bool:
    """Whether `value` (as stored: without surrounding blanks) is over `limit` characters."""
    return len(value.strip()) > limit


#: what no text field takes: C0 control characters but tab, line feed and carriage return (NUL,
#: which PostgreSQL refuses in text, among them), DEL, the C1 controls, and lone UTF-16
#: surrogates (a JSON "\\ud800" decodes to one; neither database can store it)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: the same rule as a JSON-schema pattern for the API's free text fields (its OpenAPI); a
#: schema needs no surrogates, as no JSON generator makes them
TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
#: the refusal, for a form field or an API body's field
CONTROL_CHARACTERS = N_(
    "Remove the control character (such as NUL) from the text: it cannot be stored"
)


def has_control_characters(value: str) -> bool:
    """Whether `value` holds a character no text field takes (see _CONTROL): forms and API
    bodies refuse it before any service sees it (web.common.checked_form, web.api's models)."""
    return _CONTROL.search(value) is not None
