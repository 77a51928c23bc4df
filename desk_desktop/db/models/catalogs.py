"""The four catalogs an organization words its own way (migration 0008): one table each, one shape."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from desk_desktop.db.base import Base, utcnow_column


class CatalogEntry:
    """One entry: rows refer to its ``key`` (never changes); people read its ``name``."""

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    position: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = utcnow_column()

    @declared_attr.directive
    def __table_args__(cls) -> tuple:  # noqa: N805
        return (
            PrimaryKeyConstraint("organization_id", "key"),
            CheckConstraint("key ~ '^[a-z0-9][a-z0-9_]*$'", name="key_format"),
            CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
            Index(f"uq_{cls.__tablename__}_name", "organization_id", func.lower(text("name")), unique=True),
        )


class TicketCategory(CatalogEntry, Base):
    __tablename__ = "ticket_categories"


class Skill(CatalogEntry, Base):
    __tablename__ = "skills"


class CustomerType(CatalogEntry, Base):
    __tablename__ = "customer_types"


class WorkOrderType(CatalogEntry, Base):
    __tablename__ = "work_order_types"
