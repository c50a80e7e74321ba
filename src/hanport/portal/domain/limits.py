"""The longest text each field of the port service takes, in characters.

Forms (maxlength), the API (OpenAPI maxLength) and the services' checks all read these, so a
limit is named once and every refusal can say it. The widths follow the database columns.
"""

from __future__ import annotations

__all__ = [
    "CITY_MAX",
    "EMAIL_MAX",
    "NAME_MAX",
    "REASON_MAX",
    "SEARCH_MAX",
    "STREET_MAX",
    "TRACKING_REF_MAX",
    "too_long",
]

EMAIL_MAX = 254  #: RFC 5321's longest address; parties.email
NAME_MAX = 200  #: a person's or a company's name; parties.display_name
REASON_MAX = 1000  #: customer service's reason for an override
TRACKING_REF_MAX = 64  #: a parcel's tracking reference; shipments.tracking_ref
SEARCH_MAX = 100  #: the back office's search box
STREET_MAX = 200  #: a street address; metering_points.street, shipments.address_street
CITY_MAX = 100  #: a postal town; metering_points.city, shipments.address_city


def too_long(value: str, limit: int) -> bool:
    """Whether `value` (as stored: without surrounding blanks) is over `limit` characters."""
    return len(value.strip()) > limit
