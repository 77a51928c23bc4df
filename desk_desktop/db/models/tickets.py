"""Tickets, and the per-organization number format and counters that number them."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, TenantMixin, utcnow_column


class Ticket(TenantMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        CheckConstraint("priority IN ('low','medium','high','urgent')", name="priority"),
        CheckConstraint("status IN ('new','open','pending','resolved','closed')", name="status"),
        CheckConstraint("length(subject) > 0", name="subject_not_empty"),
        ForeignKeyConstraint(["organization_id", "category"],
                             ["ticket_categories.organization_id", "ticket_categories.key"],
                             name="fk_tickets_category_ticket_categories"),
        Index("ix_tickets_org_created", "organization_id", text("created_at DESC"), text("id DESC")),
        Index("ix_tickets_org_status", "organization_id", "status"),
        Index("ix_tickets_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_tickets_search_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    # Denormalized so free-text search over the customer's name needs no join.
    customer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    site_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sites.id", ondelete="SET NULL"), index=True
    )
    location = mapped_column(Geography("POINT", srid=4326, spatial_index=True), nullable=True)
    category: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    priority: Mapped[str] = mapped_column(String(10), nullable=False)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default=text("'new'"))
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("''"))
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()
    search_text: Mapped[str] = mapped_column(
        Text,
        Computed("lower(number || ' ' || subject || ' ' || description || ' ' || customer_name)", persisted=True),
    )


class TicketNumberSequence(Base):
    """The numbering format of one organization (the database creates it with the organization, migration 0007)."""

    __tablename__ = "ticket_number_sequences"
    __table_args__ = (
        CheckConstraint("prefix ~ '^[A-Z0-9]{1,10}$'", name="prefix_format"),
        CheckConstraint("padding BETWEEN 1 AND 12", name="padding_range"),
        CheckConstraint("separator IN ('-','_','.')", name="separator"),
        CheckConstraint("reset_policy IN ('never','yearly','monthly')", name="reset_policy"),
    )

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    prefix: Mapped[str] = mapped_column(String(10), nullable=False, server_default=text("'TK'"))
    include_year: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    include_month: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    padding: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("5"))
    separator: Mapped[str] = mapped_column(String(1), nullable=False, server_default=text("'-'"))
    reset_policy: Mapped[str] = mapped_column(String(10), nullable=False, server_default=text("'yearly'"))
    updated_at: Mapped[datetime] = utcnow_column()


class TicketNumberCounter(Base):
    """Next value per (organization, period). A reset is simply a new period row."""

    __tablename__ = "ticket_number_counters"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
