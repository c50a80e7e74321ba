"""Tables of the port service (SQLAlchemy Core). Migrations in hanport/portal/db/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import CursorResult, Dialect

__all__ = ["inserted_id", "metadata"]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

parties = Table(
    "parties",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(8), nullable=False, default="person"),
    Column("display_name", String(200), nullable=False),
    Column("email", String(254), nullable=False, unique=True),
    Column("mobile", String(32)),
    Column("lang", String(2), nullable=False, default="nb"),
    Column("role", String(16), nullable=False, default="customer"),
    # subject from the identity provider (e-mail code today, ID-porten `sub` later); no national id
    Column("idp_subject", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    # the ID-porten pid as services.oidc.pid_reference keeps it: "hmac:<keyed hash>" by default
    Column("pid_ref", String(80), index=True, unique=True),
)

metering_points = Table(
    "metering_points",
    metadata,
    Column("id", String(18), primary_key=True),
    Column("street", String(200), nullable=False),
    Column("postcode", String(4), nullable=False),
    Column("city", String(100), nullable=False),
    Column("grid_area", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    CheckConstraint("length(id) = 18", name="gsrn_length"),
)

meters = Table(
    "meters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("meter_id", String(32), nullable=False, unique=True),  # as the HAN stream reports it
    Column("serial", String(32), nullable=False),
    Column("manufacturer", String(32), nullable=False),
    Column("model", String(64), nullable=False),
    Column("han_capable", Boolean, nullable=False, default=True),
    Column("metering_point_id", ForeignKey("metering_points.id"), nullable=False, index=True),
    Column("installed_from", Date, nullable=False),
)

contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", ForeignKey("parties.id"), nullable=False, index=True),
    Column("metering_point_id", ForeignKey("metering_points.id"), nullable=False, index=True),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),  # exclusive; None = open-ended
    # one open-ended contract per metering point: two customers can never both hold it on
    Index(
        "uq_contracts_open",
        "metering_point_id",
        unique=True,
        sqlite_where=text("valid_to IS NULL"),
        postgresql_where=text("valid_to IS NULL"),
    ),
)

port_states = Table(
    "port_states",
    metadata,
    Column("metering_point_id", ForeignKey("metering_points.id"), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", UTCDateTime(), nullable=False),
    Column("verified_at", UTCDateTime()),
    Column("push_seen", Boolean, nullable=False, default=False),
    Column("last_order_id", Integer),
)

#: a completed open whose meter has not pushed yet: the job runner looks for the first push
#: until it comes, the watch window ends or a newer order rules the port (then the row goes)
push_watches = Table(
    "push_watches",
    metadata,
    Column("order_id", ForeignKey("orders.id"), primary_key=True),
    Column("since", UTCDateTime(), nullable=False),  # the read-back that verified the open
    Column("next_look_at", UTCDateTime(), nullable=False, index=True),
)

terms_versions = Table(
    "terms_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", String(16), nullable=False, unique=True),
    Column("text_nb", Text, nullable=False),
    Column("text_en", Text, nullable=False),
    Column("text_nn", Text),  # nynorsk (migration 0014); None: nynorsk readers read bokmål
    Column("sha256", String(64), nullable=False),
    Column("effective_from", UTCDateTime(), nullable=False),
    Column("change_summary", Text, nullable=False, default=""),
    Column("published_by", String(64)),  # actor label; None = seed data
    Column("published_at", UTCDateTime()),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("metering_point_id", ForeignKey("metering_points.id"), nullable=False, index=True),
    Column("meter_id", ForeignKey("meters.id"), nullable=False),
    Column("action", String(8), nullable=False),
    Column("state", String(24), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("requested_by", ForeignKey("parties.id")),  # None = the system (customer change)
    Column("on_behalf_of", ForeignKey("parties.id")),
    Column("proxy_id", ForeignKey("proxies.id")),
    Column("terms_version_id", ForeignKey("terms_versions.id")),
    Column("terms_accepted_at", UTCDateTime()),
    Column("terms_sha256", String(64)),  # the exact text accepted, even if a version is edited
    Column("terms_lang", String(2)),  # the language the terms were shown in
    Column("declaration", String(24)),
    Column("module_option", String(8)),
    Column("contact_email", String(254), nullable=False),
    Column("lang", String(2), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), index=True),
    Column("command_sent_at", UTCDateTime()),
    Column("verified_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    Column("push_seen", Boolean, nullable=False, default=False),
    Column("failure_cause", String(64)),
    Column("sla_due_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # a repeated submit with the same key (and request) answers with this order: services.intake
    Column("idempotency_key", String(128)),
    Column("request_sha256", String(64)),
    Index("ix_orders_idempotency", "requested_by", "idempotency_key"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", ForeignKey("orders.id"), nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("from_state", String(24)),
    Column("to_state", String(24), nullable=False),
    Column("event", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

headend_commands = Table(
    "headend_commands",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", ForeignKey("orders.id"), nullable=False, index=True),
    Column("op", String(16), nullable=False),  # set_open, set_closed, read_port
    Column("at", UTCDateTime(), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text, nullable=False, default=""),
)

shipments = Table(
    "shipments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", ForeignKey("orders.id"), nullable=False, unique=True),
    Column("method", String(8), nullable=False),  # post | pickup
    # requested | shipped | delivered (post); requested | ready | picked_up (pick-up)
    Column("state", String(16), nullable=False),
    Column("tracking_ref", String(64)),
    Column("updated_at", UTCDateTime(), nullable=False),
    # where it goes (migration 0014): by post the delivery address, to pick up the place as
    # configured when ordered, its opening hours as JSON {"nb", "nn", "en"}
    Column("address_street", String(200)),
    Column("address_postcode", String(4)),
    Column("address_city", String(100)),
    Column("place_name", String(200)),
    Column("place_address", String(200)),
    Column("place_hours", Text),
)

proxies = Table(
    "proxies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("principal_id", ForeignKey("parties.id"), nullable=False, index=True),
    Column("agent_id", ForeignKey("parties.id"), nullable=False, index=True),
    Column("metering_point_id", ForeignKey("metering_points.id"), nullable=False),
    Column("scope", String(8), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),  # mandatory expiry: the last day it is valid
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("revoked_by", String(64)),
    Column("revoke_reason", String(64)),
    # at most one live (not revoked) proxy per principal, agent and point; re-invite replaces
    Index(
        "uq_proxies_live",
        "principal_id",
        "agent_id",
        "metering_point_id",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

customer_changes = Table(
    "customer_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("metering_point_id", ForeignKey("metering_points.id"), nullable=False),
    Column("old_party_id", ForeignKey("parties.id"), nullable=False),
    Column("new_party_id", ForeignKey("parties.id")),  # None = move-out without move-in
    Column("effective_date", Date, nullable=False),
    Column("registered_by", String(64), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("handled_at", UTCDateTime()),  # contracts, proxies and notices done
    Column("port_closed_at", UTCDateTime()),  # port known closed (close order completed)
    # the customer's notice "I am moving" (services.moves): the move-out date they gave, when,
    # the form's or API call's key, and when they withdrew it; None = no notice
    Column("notice_date", Date),
    Column("notice_at", UTCDateTime()),
    Column("notice_key", String(128)),
    Column("notice_withdrawn_at", UTCDateTime()),
    # the electricity market's event for the same move (customer service or the API); None =
    # not (yet) from the market. effective_date is the date of whichever spoke last
    Column("market_date", Date),
    Column("market_at", UTCDateTime()),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("to_addr", String(254), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("template", String(32), nullable=False),
    Column("order_id", ForeignKey("orders.id")),
    # a mail about a metering point but no order (a move): its link leads to the point
    Column("metering_point_id", String(18)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", UTCDateTime()),
    Column("last_error", Text),
    Index("ix_outbox_pending", "sent_at", "next_attempt_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("data_json", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row: the head of the audit chain. Writers lock it so the chain stays linear.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

signin_codes = Table(
    "signin_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", UTCDateTime()),
    # who asked (IP address), for the per-client limit; behind a proxy, the proxy's view of it
    Column("client", String(64), index=True),
)

# Providers ask, customers decide: a registered organisation (its own party, kind "org", which
# holds its organisation API keys and is the agent of the proxies customers grant it) and its
# requests for access to a metering point (hanport.portal.domain.access_requests).
providers = Table(
    "providers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", ForeignKey("parties.id"), nullable=False, unique=True),
    Column("org_number", String(9), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("contact_email", String(254), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
)

access_requests = Table(
    "access_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider_id", ForeignKey("providers.id"), nullable=False, index=True),
    Column("principal_id", ForeignKey("parties.id"), nullable=False, index=True),
    Column("metering_point_id", ForeignKey("metering_points.id"), nullable=False),
    Column("scope", String(8), nullable=False),  # view | act, as asked
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("answered_at", UTCDateTime()),
    Column("granted_scope", String(8)),  # what the customer granted (narrowed or as asked)
    Column("granted_to", Date),
    Column("proxy_id", ForeignKey("proxies.id")),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", ForeignKey("parties.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("scope", String(8), nullable=False, default="act", server_default="act"),  # view | act
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
    UniqueConstraint("token_hash"),
)

# Server-side sign-in sessions: the cookie holds a random token, the table its SHA-256, so
# signing out (or staff demotion) takes effect at once and a copied cookie stops working.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("party_id", ForeignKey("parties.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("user_agent", String(200), nullable=False, default=""),
    # the OpenID provider's session (sid) it began in, for front-channel logout
    Column("idp_sid", String(255), index=True),
    # a staff member acting for a customer (an explicit step with a reason); ends with the session
    Column("acting_for_party_id", ForeignKey("parties.id")),
    Column("acting_reason", String(200)),
    Column("acting_poa_ref", String(100)),
)

# Back-channel logout tokens seen (a hash of issuer and jti), shared by every web process so a
# token replayed to another one is refused; kept until the token would be refused as too old.
logout_tokens_seen = Table(
    "logout_tokens_seen",
    metadata,
    Column("jti_hash", String(64), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT … VALUES just made."""
    key = result.inserted_primary_key
    if key is None:
        raise ValueError("the statement inserted no row")
    return int(key[0])
