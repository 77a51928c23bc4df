"""Customers with their sites, and technicians with their skills and absences."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, TenantMixin, utcnow_column


class Customer(TenantMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("organization_id", "ref"),
        ForeignKeyConstraint(["organization_id", "customer_type"],
                             ["customer_types.organization_id", "customer_types.key"],
                             name="fk_customers_customer_type_customer_types"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_type: Mapped[str] = mapped_column(String(40), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = utcnow_column()


class Site(TenantMixin, Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("organization_id", "ref"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), nullable=False)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    address: Mapped[str] = mapped_column(String(300), nullable=False)
    location = mapped_column(Geography("POINT", srid=4326, spatial_index=True), nullable=True)


class Technician(TenantMixin, Base):
    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    home_base = mapped_column(Geography("POINT", srid=4326, spatial_index=True), nullable=True)
    current_location = mapped_column(Geography("POINT", srid=4326, spatial_index=True), nullable=True)
    location_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_open_work_orders: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("8"))
    # {"mon": [["08:00", "17:00"]], "tue": [...], ...} in the organization's time zone;
    # null means "no known hours" (scheduling does not move the start).
    working_hours: Mapped[dict | None] = mapped_column(JSONB)
    weekly_hours: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("40"))
    # {"hvac": 4, …}: a copy of this technician's technician_skills rows, kept exact by
    # triggers on that table (migration 0003) — read by the candidate queries, never written
    # by the app.
    skill_levels: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = utcnow_column()


class TechnicianSkill(TenantMixin, Base):
    __tablename__ = "technician_skills"
    __table_args__ = (
        CheckConstraint("proficiency BETWEEN 1 AND 5", name="proficiency_range"),
        ForeignKeyConstraint(["organization_id", "skill"], ["skills.organization_id", "skills.key"],
                             name="fk_technician_skills_skill_skills"),
        # The nearest walks for a required skill (migrations 0009, 0017): one index per
        # position for every skill of every organization, so a skill added to a catalog needs
        # no schema change; the skill by its hash, so each skill's rows have subtrees of their own.
        Index("ix_technician_skills_home_base", "organization_id", text("hashtextextended(skill, 0)"), "home_base",
              postgresql_using="gist"),
        Index("ix_technician_skills_current_location", "organization_id", text("hashtextextended(skill, 0)"),
              "current_location", postgresql_using="gist", postgresql_where=text("current_location IS NOT NULL")),
    )

    technician_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    proficiency: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    # Copies of the technician's home base and current location, kept exact by triggers
    # (migrations 0009, 0017) — read by the nearest walks, never written by the app.
    home_base = mapped_column(Geography("POINT", srid=4326, spatial_index=False), nullable=True)
    current_location = mapped_column(Geography("POINT", srid=4326, spatial_index=False), nullable=True)


# A technician's absences never overlap (migration 0012); the service names the constraint.
NO_OVERLAPPING_ABSENCES = "ex_technician_absences_no_overlap"


class Absence(TenantMixin, Base):
    """Time off of one technician: ``[starts_at, ends_at)``; a whole-day absence runs from
    local midnight of its first day to local midnight after its last (organization time)."""

    __tablename__ = "technician_absences"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="period"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_not_blank"),
        Index("ix_technician_absences_technician_id", "technician_id", "ends_at"),
        ExcludeConstraint(
            (text("technician_id"), "="),
            (text("tstzrange(starts_at, ends_at)"), "&&"),
            name=NO_OVERLAPPING_ABSENCES,
            using="gist",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    technician_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("technicians.id", ondelete="CASCADE"), nullable=False
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    all_day: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    reason: Mapped[str] = mapped_column(String(80), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = utcnow_column()
