"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanport.portal.db.schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "metering_points",
        sa.Column("id", sa.String(length=18), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("postcode", sa.String(length=4), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("grid_area", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint("length(id) = 18", name=op.f("ck_metering_points_gsrn_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metering_points")),
    )
    op.create_table(
        "parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("mobile", sa.String(length=32), nullable=True),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("idp_subject", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
        sa.UniqueConstraint("email", name=op.f("uq_parties_email")),
    )
    op.create_table(
        "signin_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_codes")),
    )
    with op.batch_alter_table("signin_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signin_codes_email"), ["email"], unique=False)

    op.create_table(
        "terms_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("text_nb", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "effective_from", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("change_summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terms_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_terms_versions_version")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("revoked_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_api_tokens_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_points.id"],
            name=op.f("fk_contracts_metering_point_id_metering_points"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_contracts_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contracts_metering_point_id"), ["metering_point_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contracts_party_id"), ["party_id"], unique=False)

    op.create_table(
        "customer_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("old_party_id", sa.Integer(), nullable=False),
        sa.Column("new_party_id", sa.Integer(), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column(
            "registered_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("handled_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "port_closed_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_points.id"],
            name=op.f("fk_customer_changes_metering_point_id_metering_points"),
        ),
        sa.ForeignKeyConstraint(
            ["new_party_id"], ["parties.id"], name=op.f("fk_customer_changes_new_party_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["old_party_id"], ["parties.id"], name=op.f("fk_customer_changes_old_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_changes")),
    )
    op.create_table(
        "meters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("manufacturer", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("han_capable", sa.Boolean(), nullable=False),
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("installed_from", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_points.id"],
            name=op.f("fk_meters_metering_point_id_metering_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("meter_id", name=op.f("uq_meters_meter_id")),
    )
    with op.batch_alter_table("meters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meters_metering_point_id"), ["metering_point_id"], unique=False
        )

    op.create_table(
        "port_states",
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "verified_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("push_seen", sa.Boolean(), nullable=False),
        sa.Column("last_order_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_points.id"],
            name=op.f("fk_port_states_metering_point_id_metering_points"),
        ),
        sa.PrimaryKeyConstraint("metering_point_id", name=op.f("pk_port_states")),
    )
    op.create_table(
        "proxies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column(
            "created_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("revoked_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["parties.id"], name=op.f("fk_proxies_agent_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_points.id"],
            name=op.f("fk_proxies_metering_point_id_metering_points"),
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["parties.id"], name=op.f("fk_proxies_principal_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proxies")),
    )
    with op.batch_alter_table("proxies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proxies_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proxies_principal_id"), ["principal_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("on_behalf_of", sa.Integer(), nullable=True),
        sa.Column("proxy_id", sa.Integer(), nullable=True),
        sa.Column("terms_version_id", sa.Integer(), nullable=True),
        sa.Column(
            "terms_accepted_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("declaration", sa.String(length=24), nullable=True),
        sa.Column("module_option", sa.String(length=8), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "command_sent_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "verified_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "completed_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("push_seen", sa.Boolean(), nullable=False),
        sa.Column("failure_cause", sa.String(length=64), nullable=True),
        sa.Column(
            "sla_due_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "created_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_orders_meter_id_meters")
        ),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_points.id"],
            name=op.f("fk_orders_metering_point_id_metering_points"),
        ),
        sa.ForeignKeyConstraint(
            ["on_behalf_of"], ["parties.id"], name=op.f("fk_orders_on_behalf_of_parties")
        ),
        sa.ForeignKeyConstraint(
            ["proxy_id"], ["proxies.id"], name=op.f("fk_orders_proxy_id_proxies")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["parties.id"], name=op.f("fk_orders_requested_by_parties")
        ),
        sa.ForeignKeyConstraint(
            ["terms_version_id"],
            ["terms_versions.id"],
            name=op.f("fk_orders_terms_version_id_terms_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_metering_point_id"), ["metering_point_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_state"), ["state"], unique=False)

    op.create_table(
        "headend_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_headend_commands_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_headend_commands")),
    )
    with op.batch_alter_table("headend_commands", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_headend_commands_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_events_order_id"), ["order_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_addr", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "next_attempt_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_outbox_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["sent_at", "next_attempt_at"], unique=False)

    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tracking_ref", sa.String(length=64), nullable=True),
        sa.Column(
            "updated_at", hanport.portal.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_shipments_order_id")),
    )
    # the audit chain starts from an all-zero hash; writers lock this row
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:
    op.drop_table("shipments")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_events_order_id"))

    op.drop_table("order_events")
    with op.batch_alter_table("headend_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_headend_commands_order_id"))

    op.drop_table("headend_commands")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_state"))
        batch_op.drop_index(batch_op.f("ix_orders_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_orders_metering_point_id"))
        batch_op.drop_index(batch_op.f("ix_orders_created_at"))

    op.drop_table("orders")
    with op.batch_alter_table("proxies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proxies_principal_id"))
        batch_op.drop_index(batch_op.f("ix_proxies_agent_id"))

    op.drop_table("proxies")
    op.drop_table("port_states")
    with op.batch_alter_table("meters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meters_metering_point_id"))

    op.drop_table("meters")
    op.drop_table("customer_changes")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_party_id"))
        batch_op.drop_index(batch_op.f("ix_contracts_metering_point_id"))

    op.drop_table("contracts")
    op.drop_table("api_tokens")
    op.drop_table("terms_versions")
    with op.batch_alter_table("signin_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signin_codes_email"))

    op.drop_table("signin_codes")
    op.drop_table("parties")
    op.drop_table("metering_points")
    op.drop_table("audit_head")
    op.drop_table("audit_events")
