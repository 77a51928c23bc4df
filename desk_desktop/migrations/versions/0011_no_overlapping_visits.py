"""no double booking: a technician's visits never overlap (an exclusion constraint)

Revision ID: 0011
Revises: 0010

A visit is a work order's ``[scheduled_start, scheduled_end)`` for its technician. The
exclusion constraint ``ex_work_orders_no_overlapping_visits`` (GiST, btree_gist for the
technician id, installed by 0009) refuses a second visit of one technician whose time range
overlaps one already stored, whichever workstation writes it — two transactions racing for
the same hour cannot both commit (the second waits for the first and then fails).

It covers every order with a technician, a start and an end whose status is not
``unassigned``, ``completed`` or ``cancelled`` — phrased as the statuses it leaves out, so
any open status (today's and those a later lifecycle adds) is covered. An order assigned
but not scheduled (``scheduled_start``/``scheduled_end`` NULL) is no visit and is not
covered; the services always set both ends together.

A dispatcher may book a visit over another one on purpose ("book anyway", audited): the
new column ``booked_anyway`` marks it and the constraint leaves it out (the visit still
keeps the technician busy for automatic scheduling); moving or reassigning it clears it.

Existing rows may overlap (the demo data was booked without this rule). Before the
constraint is created they are resolved deterministically, per technician in the order of
(start, id): a visit that starts before the previous one ends is moved to start at that
end, keeping its length; each move is recorded in the audit trail ("migration 0011"). The
downgrade drops the constraint and the column and leaves the moved visits where they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NAME = "ex_work_orders_no_overlapping_visits"
WHERE = ("technician_id IS NOT NULL AND scheduled_start IS NOT NULL AND scheduled_end IS NOT NULL "
         "AND status NOT IN ('unassigned', 'completed', 'cancelled')")
COVERED = WHERE + " AND NOT booked_anyway"


def _resolve_overlaps(conn) -> None:
    rows = conn.execute(sa.text(f"""
        SELECT id, organization_id, technician_id, scheduled_start, scheduled_end
          FROM work_orders WHERE {WHERE}
         ORDER BY technician_id, scheduled_start, id""")).all()
    moves = []
    previous_tech, previous_end = None, None
    for r in rows:
        start, end = r.scheduled_start, r.scheduled_end
        if r.technician_id != previous_tech:
            previous_tech, previous_end = r.technician_id, None
        if previous_end is not None and start < previous_end:
            start, end = previous_end, previous_end + (end - start)
            moves.append({"id": r.id, "org": r.organization_id, "start": start, "end": end,
                          "summary": (f"WO-{r.id:06d} moved from {r.scheduled_start:%Y-%m-%d %H:%M} to "
                                      f"{start:%Y-%m-%d %H:%M} UTC: it overlapped another visit of its technician "
                                      "(migration 0011, no double booking)")})
        previous_end = end if previous_end is None else max(previous_end, end)
    if moves:
        conn.execute(sa.text("UPDATE work_orders SET scheduled_start = :start, scheduled_end = :end, "
                             "updated_at = now() WHERE id = :id"), moves)
        conn.execute(sa.text("INSERT INTO audit_log (organization_id, actor, action, entity, entity_id, summary) "
                             "VALUES (:org, 'migration 0011', 'work_order.rescheduled', 'work_order', :id, "
                             ":summary)"), moves)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    conn = op.get_bind()
    conn.execute(sa.text("LOCK TABLE work_orders IN SHARE ROW EXCLUSIVE MODE"))
    _resolve_overlaps(conn)
    op.execute("ALTER TABLE work_orders ADD COLUMN booked_anyway boolean DEFAULT false NOT NULL")
    op.execute(f"ALTER TABLE work_orders ADD CONSTRAINT {NAME} EXCLUDE USING gist "
               f"(technician_id WITH =, tstzrange(scheduled_start, scheduled_end) WITH &&) WHERE ({COVERED})")


def downgrade() -> None:
    op.execute(f"ALTER TABLE work_orders DROP CONSTRAINT {NAME}")
    op.execute("ALTER TABLE work_orders DROP COLUMN booked_anyway")
