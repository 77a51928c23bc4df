"""optimize a day: pinned visits, customers' booked windows, the nightly plan's setting

Revision ID: 0016
Revises: 0015

* ``work_orders.pinned``: a dispatcher pinned the visit; the day planner leaves it with its
  technician at its time (as it leaves visits that are under way).
* ``work_orders.window_start`` / ``window_end``: the customer's booked window — the visit
  starts inside it. Both or neither.
* ``organizations.nightly_optimize``: the scheduler plans the next day every evening (off by
  default; administrators change it through the existing admin-only UPDATE policy).
* The no-overlap constraint of 0011 becomes DEFERRABLE (still checked at once by default):
  applying a whole day's plan moves many visits in one transaction, and one visit may move
  into the place another leaves only later in the same statement batch. The plan's writer
  defers it to the commit, where it is checked on the final state as before.
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

NAME = "ex_work_orders_no_overlapping_visits"
COVERED = ("technician_id IS NOT NULL AND scheduled_start IS NOT NULL AND scheduled_end IS NOT NULL "
           "AND status NOT IN ('unassigned', 'completed', 'cancelled') AND NOT booked_anyway")


def _no_overlap(deferrable: bool) -> None:
    op.execute(f"ALTER TABLE work_orders DROP CONSTRAINT {NAME}")
    op.execute(f"ALTER TABLE work_orders ADD CONSTRAINT {NAME} EXCLUDE USING gist "
               f"(technician_id WITH =, tstzrange(scheduled_start, scheduled_end) WITH &&) WHERE ({COVERED})"
               + (" DEFERRABLE INITIALLY IMMEDIATE" if deferrable else ""))


def upgrade() -> None:
    op.execute("ALTER TABLE work_orders ADD COLUMN pinned boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE work_orders ADD COLUMN window_start timestamptz")
    op.execute("ALTER TABLE work_orders ADD COLUMN window_end timestamptz")
    op.execute("ALTER TABLE work_orders ADD CONSTRAINT ck_work_orders_booked_window CHECK "
               "((window_start IS NULL) = (window_end IS NULL) AND (window_end IS NULL OR window_end > window_start))")
    op.execute("ALTER TABLE organizations ADD COLUMN nightly_optimize boolean NOT NULL DEFAULT false")
    _no_overlap(deferrable=True)


def downgrade() -> None:
    _no_overlap(deferrable=False)
    op.execute("ALTER TABLE organizations DROP COLUMN nightly_optimize")
    op.execute("ALTER TABLE work_orders DROP CONSTRAINT ck_work_orders_booked_window")
    op.execute("ALTER TABLE work_orders DROP COLUMN window_end")
    op.execute("ALTER TABLE work_orders DROP COLUMN window_start")
    op.execute("ALTER TABLE work_orders DROP COLUMN pinned")
