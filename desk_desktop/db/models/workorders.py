"""Work orders: what is to be done, where, by whom and when; their statuses and the database rules on visits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    FetchedValue,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, TenantMixin, utcnow_column

# The exclusion constraint of a technician's visits and the rows it covers (also the
# predicate of its GiST index, which the free-slot search reads through).
# ``BUSY_WHERE``: the orders that are visits (they keep the technician busy);
# ``VISIT_WHERE``: those the constraint covers — all but a visit a dispatcher booked anyway.
NO_OVERLAP = "ex_work_orders_no_overlapping_visits"
BUSY_WHERE = ("technician_id IS NOT NULL AND scheduled_start IS NOT NULL AND scheduled_end IS NOT NULL "
              "AND status NOT IN ('unassigned', 'completed', 'cancelled')")
VISIT_WHERE = BUSY_WHERE + " AND NOT booked_anyway"


class WorkOrder(TenantMixin, Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint("source IN ('manual','auto_rule','import')", name="source"),
        CheckConstraint("priority IN ('low','medium','high','urgent')", name="priority"),
        CheckConstraint(
            "status IN ('unassigned','assigned','scheduled','travelling','on_site','on_hold','completed','cancelled')",
            name="status",
        ),
        CheckConstraint("actual_end IS NULL OR actual_start IS NULL OR actual_end > actual_start",
                        name="actual_times"),
        CheckConstraint("duration_minutes BETWEEN 15 AND 1440", name="duration_range"),
        ForeignKeyConstraint(["organization_id", "work_type"],
                             ["work_order_types.organization_id", "work_order_types.key"],
                             name="fk_work_orders_work_type_work_order_types"),
        Index("ix_work_orders_org_status", "organization_id", "status"),
        # A technician's load (open orders) is counted for every candidate of every
        # assignment; this keeps the count small however long their history grows.
        # Must list exactly domain.enums.OPEN_WORK_ORDER_STATUSES.
        Index(
            "ix_work_orders_open_by_technician",
            "technician_id",
            postgresql_where=text("status IN ('assigned','scheduled','travelling','on_site','on_hold')"),
        ),
        # No double booking (migration 0011): a technician's visits never overlap. Every
        # status but these three counts, so an open status added later is covered too; an
        # order without both ends (assigned, not scheduled) is no visit; a visit a dispatcher
        # booked anyway (audited) is left out. Deferrable (0016): applying a day's plan
        # checks it at the commit, on the final state.
        ExcludeConstraint(
            (text("technician_id"), "="),
            (text("tstzrange(scheduled_start, scheduled_end)"), "&&"),
            name=NO_OVERLAP,
            using="gist",
            where=text(VISIT_WHERE),
            deferrable=True,
            initially="IMMEDIATE",
        ),
        CheckConstraint("(window_start IS NULL) = (window_end IS NULL) AND (window_end IS NULL OR window_end > window_start)",
                        name="booked_window"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Unique: a ticket never gets two work orders (nullable for orders without a ticket).
    source_ticket_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="SET NULL"), unique=True
    )
    source: Mapped[str] = mapped_column(String(12), nullable=False, index=True)
    rule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ticket_work_order_rules.id", ondelete="SET NULL"), index=True
    )
    work_type: Mapped[str] = mapped_column(String(40), nullable=False)
    priority: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default=text("'unassigned'"))
    technician_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("technicians.id", ondelete="SET NULL"), index=True
    )
    scheduled_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scheduled_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("60"))
    # A dispatcher booked this visit over another one on purpose ("book anyway", audited):
    # outside the no-overlap constraint until the visit is moved or assigned again.
    booked_anyway: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # The day planner leaves a pinned visit where it is (0016).
    pinned: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # The customer's booked window: the visit starts inside it (0016).
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the rule asked for, copied at creation so later rule edits don't change history.
    assignment_logic: Mapped[str | None] = mapped_column(String(12))
    required_skills: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    auto_schedule: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    schedule_offset_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    notify_customer: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    notify_technician: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # Assignment queue state.
    needs_assignment: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    assign_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_assign_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unassigned_reason: Mapped[str | None] = mapped_column(Text)
    assignment_explanation: Mapped[dict | None] = mapped_column(JSONB)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The lifecycle (services/lifecycle.py): where a hold resumes to and why it was held,
    # when the technician went on site, what a completion or a cancellation recorded.
    held_from: Mapped[str | None] = mapped_column(String(12))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    on_site_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actual_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actual_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # The SEQUENCE of the visit's calendar invitation: raised by the database (trigger of
    # migration 0013) in the statement that changes the technician, the time, or cancels.
    calendar_sequence: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"),
                                                   server_onupdate=FetchedValue())
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()

    @property
    def number(self) -> str:
        return work_order_number(self.id)


# The assign job's queue: orders that still want automatic assignment, per organization in
# the order the job claims them (never tried first, then by due time, oldest first) — so a
# claim reads its batch off the index instead of sorting every due order.
Index(
    "ix_work_orders_assign_queue",
    WorkOrder.organization_id,
    WorkOrder.next_assign_at.asc().nulls_first(),
    WorkOrder.id,
    postgresql_where=WorkOrder.needs_assignment,
)


def work_order_number(wo_id: int) -> str:
    return f"WO-{wo_id:06d}"
