"""Organizations (the tenants) and their dispatchers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Identity, String, text
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, utcnow_column


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    slug: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, server_default=text("'UTC'"))
    max_attachment_bytes: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text(str(100 * 1024 * 1024))
    )
    # Completing a ticket's last open work order resolves the ticket too (administrators set it).
    auto_resolve_tickets: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # The scheduler plans the next day every evening (0016; administrators set it).
    nightly_optimize: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = utcnow_column()


class Dispatcher(Base):
    """A person who logs in: ties a PostgreSQL login role to one organization."""

    __tablename__ = "dispatchers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    login_role: Mapped[str] = mapped_column(String(63), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = utcnow_column()
