"""the audit log is append-only in the database: no UPDATE or DELETE of entries, and the head
only moves forward

The hash chain detects an edited or removed entry, but not a cut-off tail with the head set
back, nor a full rewrite. These triggers refuse both to anyone but a database owner who drops
them first; `hanport audit-verify --expect-head` (a head kept outside the database) detects
what such an owner does.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SQLITE = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head "
    "WHEN NEW.seq < OLD.seq OR NEW.id != OLD.id "
    "BEGIN SELECT RAISE(ABORT, 'audit head only moves forward'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'audit head only moves forward'); END",
]

_POSTGRES = [
    """CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit log is append-only';
    END $$""",
    """CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN
            RAISE EXCEPTION 'audit head only moves forward';
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION audit_head_forward()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
]


def upgrade() -> None:
    statements = _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, trigger in (
            ("audit_events", "audit_events_no_change"),
            ("audit_events", "audit_events_no_truncate"),
            ("audit_head", "audit_head_forward"),
            ("audit_head", "audit_head_no_delete"),
            ("audit_head", "audit_head_no_truncate"),
        ):
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
        op.execute("DROP FUNCTION audit_append_only()")
        op.execute("DROP FUNCTION audit_head_forward()")
    else:
        for trigger in (
            "audit_events_no_update",
            "audit_events_no_delete",
            "audit_head_forward",
            "audit_head_no_delete",
        ):
            op.execute(f"DROP TRIGGER {trigger}")
