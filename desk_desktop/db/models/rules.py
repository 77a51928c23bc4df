"""Ticket → work-order rules, and the assignment state that round robin keeps per rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, TenantMixin, utcnow_column


class TicketToWorkOrderRule(TenantMixin, Base):
    __tablename__ = "ticket_work_order_rules"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        Index("ix_rules_org_active_priority", "organization_id", "active", text("priority DESC")),
        CheckConstraint("wo_duration_minutes BETWEEN 15 AND 1440", name="duration_range"),
        CheckConstraint("schedule_offset_minutes >= 0", name="offset_nonnegative"),
        ForeignKeyConstraint(["organization_id", "wo_type"],
                             ["work_order_types.organization_id", "work_order_types.key"],
                             name="fk_ticket_work_order_rules_wo_type_work_order_types"),
        CheckConstraint(
            "assignment_logic IN ('nearest','skill_match','workload','round_robin')", name="assignment_logic"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("''"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    priority: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    trigger_categories: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    trigger_priorities: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    trigger_tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    trigger_customer_types: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'")
    )
    wo_type: Mapped[str] = mapped_column(String(40), nullable=False)
    wo_priority: Mapped[str] = mapped_column(String(10), nullable=False)
    wo_duration_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("60"))
    auto_assign: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    assignment_logic: Mapped[str] = mapped_column(String(12), nullable=False, server_default=text("'nearest'"))
    required_skills: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    auto_schedule: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    schedule_offset_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    notify_customer: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    notify_technician: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()


class AssignmentState(TenantMixin, Base):
    """Round-robin pointer per rule (kept in the database, shared by every workstation)."""

    __tablename__ = "assignment_state"

    rule_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ticket_work_order_rules.id", ondelete="CASCADE"), primary_key=True
    )
    last_technician_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("technicians.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = utcnow_column()
