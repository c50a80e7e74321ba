"""contracts of a metering point never overlap

A metering point has one legally responsible customer at a time: triggers refuse an INSERT or
UPDATE that gives a contract a [valid_from, valid_to) range (valid_to exclusive, NULL = open
ended) overlapping another contract of the same metering point, or a valid_to before its
valid_from. 0005 covered only two open-ended contracts.

Existing data: where ranges overlap already, the newer contract wins, as in 0005. Contracts
are ordered by (valid_from, id), and each one ends at the latest where the next one begins.
A contract that began on the same day as a newer one becomes empty (valid_to = valid_from),
so its history stays, but it gives no one access.

On PostgreSQL the check takes a transaction-scoped advisory lock per metering point, so two
transactions cannot both insert overlapping contracts after each seeing none.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_MESSAGE = "contracts of a metering point must not overlap"

# `later` comes after `contracts` in (valid_from, id) order
_LATER = (
    "later.metering_point_id = contracts.metering_point_id AND ("
    "later.valid_from > contracts.valid_from OR "
    "(later.valid_from = contracts.valid_from AND later.id > contracts.id))"
)

_END_OVERLAPS = (
    f"UPDATE contracts SET valid_to = (SELECT min(later.valid_from) FROM contracts AS later "
    f"WHERE {_LATER}) "
    f"WHERE EXISTS (SELECT 1 FROM contracts AS later WHERE {_LATER} "
    "AND (contracts.valid_to IS NULL OR later.valid_from < contracts.valid_to))"
)

# NEW overlaps `other` when each begins before the other ends
_OVERLAP = (
    "other.metering_point_id = NEW.metering_point_id AND other.id <> NEW.id "
    "AND (other.valid_to IS NULL OR other.valid_to > NEW.valid_from) "
    "AND (NEW.valid_to IS NULL OR NEW.valid_to > other.valid_from)"
)

_SQLITE = [
    f"CREATE TRIGGER contracts_no_overlap_insert BEFORE INSERT ON contracts "
    f"WHEN NEW.valid_to < NEW.valid_from OR EXISTS (SELECT 1 FROM contracts AS other "
    f"WHERE {_OVERLAP.replace('AND other.id <> NEW.id ', '')}) "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
    f"CREATE TRIGGER contracts_no_overlap_update "
    f"BEFORE UPDATE OF metering_point_id, valid_from, valid_to ON contracts "
    f"WHEN NEW.valid_to < NEW.valid_from OR EXISTS (SELECT 1 FROM contracts AS other "
    f"WHERE {_OVERLAP}) "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
]

_POSTGRES = [
    f"""CREATE FUNCTION contracts_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.valid_to < NEW.valid_from THEN
            RAISE EXCEPTION 'contract ends before it begins' USING ERRCODE = 'check_violation';
        END IF;
        -- serialise writers per metering point: the check below is then race-free
        PERFORM pg_advisory_xact_lock(hashtext('contracts:' || NEW.metering_point_id));
        IF EXISTS (
            SELECT 1 FROM contracts AS other
            WHERE other.metering_point_id = NEW.metering_point_id
              AND other.id IS DISTINCT FROM NEW.id
              AND (other.valid_to IS NULL OR other.valid_to > NEW.valid_from)
              AND (NEW.valid_to IS NULL OR NEW.valid_to > other.valid_from)
        ) THEN
            RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'exclusion_violation';
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER contracts_no_overlap BEFORE INSERT OR UPDATE ON contracts "
    "FOR EACH ROW EXECUTE FUNCTION contracts_no_overlap()",
]


def upgrade() -> None:
    op.execute(_END_OVERLAPS)
    statements = _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER contracts_no_overlap ON contracts")
        op.execute("DROP FUNCTION contracts_no_overlap()")
    else:
        op.execute("DROP TRIGGER contracts_no_overlap_insert")
        op.execute("DROP TRIGGER contracts_no_overlap_update")
