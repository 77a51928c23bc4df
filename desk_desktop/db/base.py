"""Declarative base with a naming convention so constraint names are stable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow_column(**kw) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False, **kw)


class TenantMixin:
    """Every business row belongs to an organization (row-level security keys on it)."""

    @declared_attr
    def organization_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(
            BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
        )


# Tables that carry organization_id and get row-level security (issue: tenancy).
TENANT_TABLES = (
    "dispatchers",
    "customers",
    "sites",
    "technicians",
    "technician_skills",
    "technician_absences",
    "ticket_categories",
    "skills",
    "customer_types",
    "work_order_types",
    "tickets",
    "ticket_number_sequences",
    "ticket_number_counters",
    "work_orders",
    "ticket_work_order_rules",
    "assignment_state",
    "blobs",
    "blob_chunks",
    "attachments",
    "notifications",
    "audit_log",
)
