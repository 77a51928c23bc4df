"""calendar invitations: a SEQUENCE per work order kept by the database, the invitation stored with its message

Revision ID: 0013
Revises: 0012

A technician's e-mail about a visit carries an iCalendar invitation (``domain/calendar.py``)
whose UID never changes for the work order and whose SEQUENCE must rise with every change
the technician's calendar must see, whichever workstation or job makes it.

* ``work_orders.calendar_sequence`` (0 for every order, existing ones included) is raised by
  one by the trigger ``trg_work_orders_calendar_sequence`` (BEFORE UPDATE, per row) when the
  technician, the scheduled start or end changes, or the order enters or leaves
  ``cancelled`` — in the statement that makes the change, so two workstations and the
  assign job never hand out the same number twice for different states.
* ``notifications.calendar_method`` (``REQUEST``/``CANCEL``) and ``calendar_ics``: the
  invitation rendered when the outbox row is written, so every retry sends the same bytes.
  Both or neither (``ck_notifications_calendar``). Like the rest of a queued message
  (migration 0006), a dispatcher's connection cannot rewrite them afterwards
  (``desk_guard_outbox_invitation``).

The downgrade drops the trigger, its function and the three columns (queued messages go
out without their invitation).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OWNER = "desk_owner"
FUNCTION = "desk_bump_calendar_sequence()"
TRIGGER = "trg_work_orders_calendar_sequence"
GUARD = "desk_guard_outbox_invitation()"


def upgrade() -> None:
    conn = op.get_bind()
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    op.add_column("work_orders", sa.Column("calendar_sequence", sa.Integer(), nullable=False,
                                           server_default=sa.text("0")))
    op.add_column("notifications", sa.Column("calendar_method", sa.String(10), nullable=True))
    op.add_column("notifications", sa.Column("calendar_ics", sa.Text(), nullable=True))
    op.execute("ALTER TABLE notifications ADD CONSTRAINT ck_notifications_calendar CHECK ("
               "(calendar_method IS NULL AND calendar_ics IS NULL) OR "
               "(calendar_method IN ('REQUEST', 'CANCEL') AND calendar_ics IS NOT NULL))")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {FUNCTION} RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog, "{schema}", pg_temp AS $$
        BEGIN
            NEW.calendar_sequence := OLD.calendar_sequence + 1;
            RETURN NEW;
        END
        $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {GUARD} RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog, "{schema}", pg_temp AS $$
        BEGIN
            IF NOT desk_trusted() THEN
                RAISE EXCEPTION 'A queued message cannot be rewritten.' USING ERRCODE = '42501';
            END IF;
            RETURN NEW;
        END
        $$""")
    has_owner = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": OWNER}).first()
    for fn in (FUNCTION, GUARD):
        if has_owner:
            op.execute(f"ALTER FUNCTION {fn} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    op.execute(f"""
        CREATE TRIGGER desk_guard_outbox_invitation BEFORE UPDATE OF calendar_method, calendar_ics
        ON notifications FOR EACH ROW
        WHEN (OLD.calendar_method IS DISTINCT FROM NEW.calendar_method OR OLD.calendar_ics IS DISTINCT FROM NEW.calendar_ics)
        EXECUTE FUNCTION {GUARD}""")
    # The WHEN clause keeps every other update (the queue's bookkeeping, notes) free of it.
    op.execute(f"""
        CREATE TRIGGER {TRIGGER} BEFORE UPDATE OF technician_id, scheduled_start, scheduled_end, status
        ON work_orders FOR EACH ROW
        WHEN (OLD.technician_id IS DISTINCT FROM NEW.technician_id
              OR OLD.scheduled_start IS DISTINCT FROM NEW.scheduled_start
              OR OLD.scheduled_end IS DISTINCT FROM NEW.scheduled_end
              OR ((OLD.status = 'cancelled') <> (NEW.status = 'cancelled')))
        EXECUTE FUNCTION {FUNCTION}""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS desk_guard_outbox_invitation ON notifications")
    op.execute(f"DROP FUNCTION IF EXISTS {GUARD}")
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON work_orders")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
    op.execute("ALTER TABLE notifications DROP CONSTRAINT ck_notifications_calendar")
    op.drop_column("notifications", "calendar_ics")
    op.drop_column("notifications", "calendar_method")
    op.drop_column("work_orders", "calendar_sequence")
