"""work-order lifecycle: travelling and on site instead of in progress, hold, completion and cancellation facts

Revision ID: 0010
Revises: 0009

A work order now runs to the end: scheduled/assigned → travelling → on_site → completed,
with on_hold (and back) and cancelled on the way, and completed/cancelled reopened.

* ``in_progress`` is split into ``travelling`` and ``on_site`` (both open); rows that were
  in progress become ``on_site`` (the technician was working on it). The partial index of
  open orders by technician lists the new open statuses.
* What each step records on the order: ``held_from`` (the status to resume to) and
  ``hold_reason``; ``on_site_at`` (the default actual start of a completion);
  ``actual_start``/``actual_end`` and ``resolution_note`` of a completion (end after start,
  checked by the database); ``cancel_reason``.
* ``organizations.auto_resolve_tickets``: completing a ticket's last open order resolves
  the ticket in the same transaction. Only the organization's administrators change it
  (the existing admin-only UPDATE policy on ``organizations``).

The downgrade turns travelling/on-site orders back into in-progress ones and drops the
new columns (the lifecycle facts are lost; the audit trail keeps them).
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_STATUSES = "'unassigned','assigned','scheduled','in_progress','on_hold','completed','cancelled'"
NEW_STATUSES = "'unassigned','assigned','scheduled','travelling','on_site','on_hold','completed','cancelled'"
OLD_OPEN = "'assigned','scheduled','in_progress','on_hold'"
NEW_OPEN = "'assigned','scheduled','travelling','on_site','on_hold'"
COLUMNS = (("held_from", "varchar(12)"), ("hold_reason", "text"), ("on_site_at", "timestamptz"),
           ("actual_start", "timestamptz"), ("actual_end", "timestamptz"), ("resolution_note", "text"),
           ("cancel_reason", "text"))


def _status_rules(statuses: str, open_statuses: str) -> None:
    op.execute(f"ALTER TABLE work_orders ADD CONSTRAINT ck_work_orders_status CHECK (status IN ({statuses}))")
    op.execute("CREATE INDEX ix_work_orders_open_by_technician ON work_orders (technician_id) "
               f"WHERE status IN ({open_statuses})")


def upgrade() -> None:
    op.execute("ALTER TABLE work_orders DROP CONSTRAINT ck_work_orders_status")
    op.execute("DROP INDEX ix_work_orders_open_by_technician")
    op.execute("UPDATE work_orders SET status = 'on_site' WHERE status = 'in_progress'")
    _status_rules(NEW_STATUSES, NEW_OPEN)
    op.execute("ALTER TABLE work_orders " + ", ".join(f"ADD COLUMN {c} {t}" for c, t in COLUMNS))
    op.execute("ALTER TABLE work_orders ADD CONSTRAINT ck_work_orders_actual_times "
               "CHECK (actual_end IS NULL OR actual_start IS NULL OR actual_end > actual_start)")
    op.execute("ALTER TABLE organizations ADD COLUMN auto_resolve_tickets boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE organizations DROP COLUMN auto_resolve_tickets")
    op.execute("ALTER TABLE work_orders DROP CONSTRAINT ck_work_orders_actual_times")
    op.execute("ALTER TABLE work_orders " + ", ".join(f"DROP COLUMN {c}" for c, _ in COLUMNS))
    op.execute("ALTER TABLE work_orders DROP CONSTRAINT ck_work_orders_status")
    op.execute("DROP INDEX ix_work_orders_open_by_technician")
    op.execute("UPDATE work_orders SET status = 'in_progress' WHERE status IN ('travelling', 'on_site')")
    _status_rules(OLD_STATUSES, OLD_OPEN)
