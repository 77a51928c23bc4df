"""The notification outbox: one row per message to send or show."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, TenantMixin, utcnow_column


class Notification(TenantMixin, Base):
    """Durable outbox row; the idempotency key is (event, recipient, channel)."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("status IN ('pending','sent','skipped','dead')", name="status"),
        CheckConstraint("channel IN ('email','inbox')", name="channel"),
        CheckConstraint("(calendar_method IS NULL AND calendar_ics IS NULL) OR "
                        "(calendar_method IN ('REQUEST', 'CANCEL') AND calendar_ics IS NOT NULL)", name="calendar"),
        Index("ix_notifications_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        # Per organization: one org can never pre-empt (block) another org's notification key.
        UniqueConstraint("organization_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), nullable=False)
    event: Mapped[str] = mapped_column(String(60), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    recipient_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    recipient_id: Mapped[int | None] = mapped_column(BigInteger)
    recipient_address: Mapped[str | None] = mapped_column(String(254))
    work_order_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("work_orders.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    body_text: Mapped[str] = mapped_column(Text, nullable=False)
    body_html: Mapped[str | None] = mapped_column(Text)
    # The iCalendar invitation a technician's e-mail carries (migration 0013), rendered when
    # the row was written so every retry sends the same bytes.
    calendar_method: Mapped[str | None] = mapped_column(String(10))
    calendar_ics: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = utcnow_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Lease of the scheduler process that is sending it (expires if that process dies).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = utcnow_column()
