"""The audit trail: one row per change, with who, what and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, TenantMixin, utcnow_column


class AuditEntry(TenantMixin, Base):
    """Who did what, when and why — written in the same transaction as the change."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "organization_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    entity: Mapped[str] = mapped_column(String(40), nullable=False)
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = utcnow_column()
    summary: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    details: Mapped[dict | None] = mapped_column(JSONB)
